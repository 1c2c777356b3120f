"""Provisioners: the RunJobFlow parameters of ATMO's clusters and Spark jobs, and their calls."""

from __future__ import annotations

from atmo_provider.provisioners.base import (
    TASK_INSTANCE_TAG,
    Launch,
    Provisioner,
    is_spot_capacity_refusal,
    uses_spot_instances,
    with_on_demand_instances,
)
from atmo_provider.provisioners.cluster import ClusterProvisioner
from atmo_provider.provisioners.spark_job import SparkJobProvisioner

__all__ = [
    "TASK_INSTANCE_TAG",
    "ClusterProvisioner",
    "Launch",
    "Provisioner",
    "SparkJobProvisioner",
    "is_spot_capacity_refusal",
    "uses_spot_instances",
    "with_on_demand_instances",
]
