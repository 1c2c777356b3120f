"""EMR calls for one AWS connection: describe, list, find by tag, launch, terminate, steps.

Each call but RunJobFlow is retried with :func:`~atmo_provider.aws.retry.call_with_backoff`.
RunJobFlow is made exactly once, botocore's retries off: EMR has no idempotency token, so a
repeated call could start a second cluster (see :mod:`atmo_provider.provisioners.base`).
Results come back as plain dictionaries with snake_case keys (see :func:`normalize_cluster`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from atmo_provider.aws.clients import NO_RETRIES, emr_client
from atmo_provider.aws.retry import (
    DEFAULT_BASE,
    DEFAULT_CAP,
    DEFAULT_MAX_ATTEMPTS,
    call_with_backoff,
)
from atmo_provider.aws.s3 import normalize_s3_uri

__all__ = ["EmrClusters", "normalize_cluster", "normalize_step", "to_json"]

log = logging.getLogger(__name__)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _status_fields(status: dict[str, Any]) -> dict[str, Any]:
    reason = status.get("StateChangeReason") or {}
    timeline = status.get("Timeline") or {}
    return {
        "state": status.get("State"),
        "state_change_reason_code": reason.get("Code"),
        "state_change_reason_message": reason.get("Message"),
        "creation_datetime": _utc(timeline.get("CreationDateTime")),
        "ready_datetime": _utc(timeline.get("ReadyDateTime")),
        "end_datetime": _utc(timeline.get("EndDateTime")),
    }


def normalize_cluster(cluster: dict[str, Any]) -> dict[str, Any]:
    """Turn a DescribeCluster ``Cluster`` or a ListClusters summary into a flat dictionary.

    Every key is present; values EMR did not report (``LogUri`` of a cluster launched without
    logs, ``MasterPublicDnsName`` before it is known, tags of a summary) are ``None`` or empty.
    Datetimes are timezone-aware, in UTC.
    """
    tags = {tag.get("Key"): tag.get("Value") for tag in cluster.get("Tags") or []}
    return {
        "jobflow_id": cluster.get("Id"),
        "name": cluster.get("Name"),
        **_status_fields(cluster.get("Status") or {}),
        "public_dns": cluster.get("MasterPublicDnsName") or None,
        "log_uri": normalize_s3_uri(cluster.get("LogUri")),
        "release_label": cluster.get("ReleaseLabel"),
        "tags": tags,
    }


def normalize_step(step: dict[str, Any]) -> dict[str, Any]:
    """Turn a ListSteps or DescribeStep ``Step`` into a flat dictionary like a cluster's."""
    status = step.get("Status") or {}
    failure = status.get("FailureDetails") or {}
    timeline = status.get("Timeline") or {}
    reason = status.get("StateChangeReason") or {}
    return {
        "step_id": step.get("Id"),
        "name": step.get("Name"),
        "state": status.get("State"),
        "state_change_reason_message": reason.get("Message"),
        "failure_reason": failure.get("Reason"),
        "failure_message": failure.get("Message"),
        "failure_log_file": normalize_s3_uri(failure.get("LogFile")),
        "creation_datetime": _utc(timeline.get("CreationDateTime")),
        "start_datetime": _utc(timeline.get("StartDateTime")),
        "end_datetime": _utc(timeline.get("EndDateTime")),
    }


def to_json(description: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of a normalized description with datetimes as ISO 8601 strings."""
    return {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in description.items()
    }


class EmrClusters:
    """EMR calls of one AWS connection, each retried after full-jitter waits when throttled.

    :param aws_conn_id: the Airflow AWS connection.
    :param region_name: the region of the clusters; ``None`` for the connection's region.
    :param max_attempts: attempts per call of :func:`call_with_backoff`.
    :param base: ceiling of the first backoff wait, in seconds.
    :param cap: largest backoff wait, in seconds.
    """

    def __init__(
        self,
        aws_conn_id: str | None,
        region_name: str | None = None,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        base: float = DEFAULT_BASE,
        cap: float = DEFAULT_CAP,
    ) -> None:
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self._retry = {"max_attempts": max_attempts, "base": base, "cap": cap}
        self._client: Any = None
        self._launch_client: Any = None

    @property
    def client(self) -> Any:
        """The EMR client for every call but RunJobFlow, built on first use."""
        if self._client is None:
            self._client = emr_client(self.aws_conn_id, self.region_name)
        return self._client

    def _call(self, method: str, description: str, **kwargs: Any) -> Any:
        fn = getattr(self.client, method)
        return call_with_backoff(fn, description=description, **self._retry, **kwargs)

    def describe(self, jobflow_id: str) -> dict[str, Any]:
        """Describe the cluster ``jobflow_id`` (see :func:`normalize_cluster`)."""
        response = self._call(
            "describe_cluster", f"describe cluster {jobflow_id}", ClusterId=jobflow_id
        )
        return normalize_cluster(response["Cluster"])

    def list(
        self, created_after: datetime | None = None, states: Iterable[str] | None = None
    ) -> list[dict[str, Any]]:
        """List the clusters created after ``created_after`` in ``states``, newest first.

        EMR answers ListClusters in pages of 50; all pages are read with boto3's paginator. A
        throttled page restarts the listing after a full-jitter wait.

        :param created_after: only clusters created after this moment; ``None`` for all.
        :param states: only clusters in these states; ``None`` for all.
        """
        kwargs: dict[str, Any] = {}
        if created_after is not None:
            kwargs["CreatedAfter"] = created_after
        if states:
            kwargs["ClusterStates"] = sorted(states)

        def read_all_pages() -> list[dict[str, Any]]:
            paginator = self.client.get_paginator("list_clusters")
            return [
                normalize_cluster(summary)
                for page in paginator.paginate(**kwargs)
                for summary in page.get("Clusters", [])
            ]

        since = created_after.isoformat() if created_after else "the beginning"
        clusters = call_with_backoff(
            read_all_pages, description=f"list clusters created since {since}", **self._retry
        )
        epoch = datetime.min.replace(tzinfo=timezone.utc)
        clusters.sort(key=lambda c: c["creation_datetime"] or epoch, reverse=True)
        return clusters

    def find_by_tag(
        self,
        key: str,
        value: str,
        *,
        name: str,
        created_after: datetime | None,
        states: Iterable[str],
    ) -> dict[str, Any] | None:
        """Return the newest cluster named ``name`` whose tag ``key`` is ``value``, or ``None``.

        ListClusters has neither tags nor a name filter: clusters are listed by creation time
        and state, filtered by name, and only those left are described to read their tags.

        :param key: the tag key, e.g. ``atmo:task-instance``.
        :param value: the tag value to match.
        :param name: the exact cluster name.
        :param created_after: only clusters created after this moment.
        :param states: only clusters in these states.
        """
        candidates = [
            cluster
            for cluster in self.list(created_after=created_after, states=states)
            if cluster["name"] == name
        ]
        for candidate in candidates:
            description = self.describe(candidate["jobflow_id"])
            if description["tags"].get(key) == value:
                return description
        return None

    def run_job_flow(self, params: dict[str, Any]) -> str:
        """Call RunJobFlow once, botocore's retries off, and return the new job flow id."""
        # Limitation: EMR has no idempotency token; duplicates are found by tag instead,
        # so this call is never repeated blindly (not by botocore and not here).
        if self._launch_client is None:
            self._launch_client = emr_client(
                self.aws_conn_id, self.region_name, total_max_attempts=NO_RETRIES
            )
        response = self._launch_client.run_job_flow(**params)
        return response["JobFlowId"]

    def terminate(self, jobflow_id: str) -> None:
        """Terminate the cluster ``jobflow_id``; terminating a terminated cluster is fine."""
        self._call(
            "terminate_job_flows", f"terminate cluster {jobflow_id}", JobFlowIds=[jobflow_id]
        )

    def instance_markets(self, jobflow_id: str) -> set[str]:
        """Return the markets (``SPOT``, ``ON_DEMAND``) of the instance groups of a cluster."""

        def read_all_pages() -> set[str]:
            paginator = self.client.get_paginator("list_instance_groups")
            return {
                group.get("Market", "ON_DEMAND")
                for page in paginator.paginate(ClusterId=jobflow_id)
                for group in page.get("InstanceGroups", [])
            }

        return call_with_backoff(
            read_all_pages,
            description=f"list instance groups of cluster {jobflow_id}",
            **self._retry,
        )

    def list_steps(self, jobflow_id: str) -> list[dict[str, Any]]:
        """List the steps of ``jobflow_id``, oldest first (see :func:`normalize_step`)."""

        def read_all_pages() -> list[dict[str, Any]]:
            paginator = self.client.get_paginator("list_steps")
            return [
                normalize_step(step)
                for page in paginator.paginate(ClusterId=jobflow_id)
                for step in page.get("Steps", [])
            ]

        steps = call_with_backoff(
            read_all_pages, description=f"list steps of cluster {jobflow_id}", **self._retry
        )
        # ListSteps answers newest first.
        return list(reversed(steps))

    def describe_step(self, jobflow_id: str, step_id: str) -> dict[str, Any]:
        """Describe the step ``step_id`` of ``jobflow_id`` (see :func:`normalize_step`)."""
        response = self._call(
            "describe_step",
            f"describe step {step_id} of cluster {jobflow_id}",
            ClusterId=jobflow_id,
            StepId=step_id,
        )
        return normalize_step(response["Step"])
