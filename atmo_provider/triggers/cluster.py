"""Wait in the triggerer until an EMR cluster reaches a state, without blocking the event loop.

Each DescribeCluster runs in a worker thread (``asyncio.to_thread``) through the Amazon
provider's hook, so the connection's ``endpoint_url`` is honoured and throttling is retried with
full-jitter waits off the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

__all__ = ["AtmoClusterStateTrigger"]


class AtmoClusterStateTrigger(BaseTrigger):
    """Fire once the cluster ``job_flow_id`` is in one of ``target_states`` or ``failure_states``.

    The event's payload is ``{"status": "success" | "failure" | "error", "job_flow_id",
    "cluster", "message"}``: ``success`` for a target state, ``failure`` for a failure state,
    ``error`` when the cluster could not be described. ``cluster`` is the normalized
    description (datetimes as ISO strings).

    :param job_flow_id: the cluster to watch.
    :param target_states: states that end the wait successfully.
    :param failure_states: states that end the wait with a failure.
    :param aws_conn_id: the Airflow AWS connection.
    :param region_name: the cluster's region; ``None`` for the connection's region.
    :param poll_interval: seconds between two DescribeCluster calls.
    :param terminate_on_kill: terminate the cluster when a user marks the deferred task failed
        or clears it.
    """

    def __init__(
        self,
        job_flow_id: str,
        target_states: Iterable[str],
        failure_states: Iterable[str] = (),
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        poll_interval: float = 30,
        terminate_on_kill: bool = False,
    ) -> None:
        super().__init__()
        self.job_flow_id = job_flow_id
        self.target_states = sorted(target_states)
        self.failure_states = sorted(failure_states)
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.poll_interval = poll_interval
        self.terminate_on_kill = terminate_on_kill

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return this trigger's importable classpath and the arguments to rebuild it."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job_flow_id": self.job_flow_id,
                "target_states": list(self.target_states),
                "failure_states": list(self.failure_states),
                "aws_conn_id": self.aws_conn_id,
                "region_name": self.region_name,
                "poll_interval": self.poll_interval,
                "terminate_on_kill": self.terminate_on_kill,
            },
        )

    def _emr(self) -> Any:
        from atmo_provider.aws.emr import EmrClusters

        return EmrClusters(self.aws_conn_id, self.region_name)

    def _event(self, status: str, cluster: dict[str, Any] | None, message: str) -> TriggerEvent:
        from atmo_provider.aws.emr import to_json

        return TriggerEvent(
            {
                "status": status,
                "job_flow_id": self.job_flow_id,
                "cluster": to_json(cluster) if cluster is not None else None,
                "message": message,
            }
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Describe the cluster every ``poll_interval`` seconds until it reaches a final state."""
        emr = self._emr()
        last_state = None
        while True:
            try:
                cluster = await asyncio.to_thread(emr.describe, self.job_flow_id)
            except Exception as exc:
                message = f"Could not describe cluster {self.job_flow_id}: {exc}"
                self.log.error(message)
                yield self._event("error", None, message)
                return

            state = cluster["state"]
            if state in self.target_states:
                yield self._event("success", cluster, f"Cluster {self.job_flow_id} is {state}")
                return
            if state in self.failure_states:
                reason = cluster["state_change_reason_message"] or "no reason given"
                code = cluster["state_change_reason_code"] or "no code"
                message = f"Cluster {self.job_flow_id} is {state} ({code}: {reason})"
                yield self._event("failure", cluster, message)
                return

            if state != last_state:
                self.log.info(
                    "Cluster %s is %s; waiting for %s",
                    self.job_flow_id,
                    state,
                    " or ".join(self.target_states),
                )
                last_state = state
            await asyncio.sleep(self.poll_interval)

    async def on_kill(self) -> None:
        """Terminate the cluster when a user marked the deferred task failed or cleared it."""
        if not self.terminate_on_kill:
            return

        self.log.warning(
            "The task waiting for cluster %s was stopped by a user; terminating the cluster",
            self.job_flow_id,
        )
        await asyncio.to_thread(self._emr().terminate, self.job_flow_id)
