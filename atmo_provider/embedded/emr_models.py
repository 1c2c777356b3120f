"""moto's EMR cluster and step, reporting the status the lifecycle driver gives them.

Part of the embedded AWS, a development and test facility; production talks to real EMR with the
same provider code. moto's models report a state change reason without a code, no failure
details and a master DNS name from the first second. The driver switches the class of each
cluster and step it adopts to the subclasses here, so only clusters created through the embedded
AWS change; moto used elsewhere in the same process (``mock_aws``) keeps its own behaviour.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from moto.emr.models import Cluster, Ec2InstanceAttributes, Step, emr_backends

__all__ = [
    "LifecycleCluster",
    "LifecycleStep",
    "adopt_cluster",
    "adopt_step",
    "all_emr_backends",
    "to_epoch",
]


class LifecycleCluster(Cluster):
    """A moto cluster whose status the lifecycle driver owns."""

    #: Reason code of the last state change (moto keeps only the message).
    atmo_reason_code: str | None = None
    #: ``ErrorDetails`` of a cluster that failed to provision.
    atmo_error_details: tuple[dict[str, Any], ...] = ()
    #: Subnets asked for with ``Instances.Ec2SubnetIds``, which moto does not keep.
    atmo_requested_subnets: tuple[str, ...] = ()

    @property
    def status(self) -> dict[str, Any]:
        reason: dict[str, str] = {}
        if self.atmo_reason_code:
            reason["Code"] = self.atmo_reason_code
        message = getattr(self, "last_state_change_reason", None)
        if message:
            reason["Message"] = message
        status: dict[str, Any] = {
            "State": self.state,
            "StateChangeReason": reason,
            "Timeline": {
                "CreationDateTime": self.creation_datetime,
                "ReadyDateTime": self.ready_datetime,
                "EndDateTime": self.end_datetime,
            },
        }
        if self.atmo_error_details:
            status["ErrorDetails"] = list(self.atmo_error_details)
        return status

    @property
    def master_public_dns_name(self) -> str | None:  # type: ignore[override]
        # EMR names the master only once it is ready; the address is made up from the id.
        if self.ready_datetime is None:
            return None
        digest = zlib.crc32(self.id.encode())
        octets = [54, digest >> 16 & 0xFF, digest >> 8 & 0xFF, digest & 0xFF]
        dashed = "-".join(str(octet) for octet in octets)
        return f"ec2-{dashed}.{self.emr_backend.region_name}.compute.amazonaws.com"

    @property
    def ec2_instance_attributes(self) -> Ec2InstanceAttributes:
        attributes = Ec2InstanceAttributes(self)
        attributes.requested_ec2_subnet_ids = list(self.atmo_requested_subnets)
        if not attributes.ec2_subnet_id and self.atmo_requested_subnets:
            attributes.ec2_subnet_id = self.atmo_requested_subnets[0]
        return attributes

    @property
    def asks_spot(self) -> bool:
        """Whether any instance group of the cluster asks for SPOT instances."""
        return any(group.market == "SPOT" for group in self.instance_groups)

    @property
    def master_asks_spot(self) -> bool:
        """Whether the master instance group asks for SPOT instances."""
        return any(
            group.market == "SPOT" and group.role == "MASTER" for group in self.instance_groups
        )


class LifecycleStep(Step):
    """A moto step whose status the lifecycle driver owns."""

    #: ``FailureDetails`` of a FAILED step.
    atmo_failure_details: dict[str, str] | None = None

    @property
    def status(self) -> dict[str, Any]:
        message = getattr(self, "last_state_change_reason", None)
        status: dict[str, Any] = {
            "State": self.state,
            "StateChangeReason": {"Message": message} if message else {},
            "Timeline": {
                "CreationDateTime": self.creation_date_time,
                "StartDateTime": self.start_date_time,
                "EndDateTime": self.end_date_time,
            },
        }
        if self.atmo_failure_details:
            status["FailureDetails"] = dict(self.atmo_failure_details)
        return status


def adopt_cluster(cluster: Cluster) -> LifecycleCluster:
    """Switch a moto cluster to :class:`LifecycleCluster` and put it back in STARTING.

    moto runs a new cluster through to WAITING (or TERMINATED) inside RunJobFlow; EMR has only
    begun provisioning at that point.
    """
    cluster.__class__ = LifecycleCluster
    cluster.state = "STARTING"
    cluster.start_datetime = None
    cluster.ready_datetime = None
    cluster.end_datetime = None
    cluster.last_state_change_reason = None
    for step in cluster.steps:
        adopt_step(step)
    return cluster  # type: ignore[return-value]


def adopt_step(step: Step) -> LifecycleStep:
    """Switch a moto step to :class:`LifecycleStep` and put it back in PENDING."""
    step.__class__ = LifecycleStep
    step.state = "PENDING"
    step.start_date_time = None
    step.end_date_time = None
    step.last_state_change_reason = None
    return step  # type: ignore[return-value]


def all_emr_backends() -> Iterator[Any]:
    """Yield every EMR backend moto has created, across accounts and regions."""
    for per_account in list(dict.values(emr_backends)):
        yield from list(dict.values(per_account))


def to_epoch(value: datetime) -> float:
    """Return the epoch seconds of a moto datetime (naive values are UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()
