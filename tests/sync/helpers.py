"""Launching clusters in the embedded AWS the way the DAGs do, and waiting for their states."""

from __future__ import annotations

import time
import uuid
from typing import Any

from atmo_provider.operators.cluster import LIFETIME_TAG
from atmo_provider.provisioners import ClusterProvisioner, SparkJobProvisioner
from atmo_provider.settings import AtmoSettings

SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def launch_cluster(
    owner: str,
    identifier: str,
    *,
    email: str | None = None,
    task_instance: str | None = "atmo_launch_cluster/manual__1/create_cluster/-1",
    lifetime: int | None = None,
    settings: AtmoSettings | None = None,
) -> str:
    """Launch a cluster as the launch DAG does; return its job flow id."""
    provisioner = ClusterProvisioner(settings or AtmoSettings())
    params = provisioner.start_params(
        owner, email or f"{owner}@example.com", identifier, "6.15.0", 1, SSH_KEY
    )
    if lifetime is not None:
        params["Tags"].append({"Key": LIFETIME_TAG, "Value": str(lifetime)})
    return provisioner.launch(params, task_instance_tag=task_instance).jobflow_id


def launch_job_cluster(owner: str, identifier: str, dag_run_id: str) -> str:
    """Launch a Spark job's cluster as its DAG run's ``run_spark_job`` task does."""
    provisioner = SparkJobProvisioner(AtmoSettings())
    params = provisioner.run_params(
        owner,
        f"{owner}@example.com",
        identifier,
        "6.15.0",
        1,
        f"s3://atmo-code/jobs/{identifier}/counts.ipynb",
        1,
        False,
    )
    tag = f"atmo_job_{identifier}/{dag_run_id}/run_spark_job/-1"
    return provisioner.launch(params, task_instance_tag=tag).jobflow_id


def wait_for_state(aws: Any, jobflow_id: str, states: set[str], timeout: float = 20) -> str:
    """Wait until EMR reports ``jobflow_id`` in one of ``states``; return the state."""
    emr = aws.client("emr")
    deadline = time.monotonic() + timeout
    while True:
        state = emr.describe_cluster(ClusterId=jobflow_id)["Cluster"]["Status"]["State"]
        if state in states:
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f"cluster {jobflow_id} is {state}, not in {sorted(states)}")
        time.sleep(0.1)
