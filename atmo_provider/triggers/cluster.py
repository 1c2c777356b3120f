"""Wait in the triggerer until an EMR cluster reaches a state, without blocking the event loop.

The triggers of one connection and region share one ListClusters poll per interval (see
:mod:`atmo_provider.triggers.poller`), so a triggerer waiting on N clusters makes ceil(N/50)
calls per interval instead of N. Every AWS call runs in a worker thread (``asyncio.to_thread``)
through the Amazon provider's hook, so the connection's ``endpoint_url`` is honoured and
throttling is retried with full-jitter waits off the event loop.

ListClusters reports a cluster's state, reason and times but not its steps: a Spark job's wait
needs only the cluster reaching a terminal state, and the operator reads the step's outcome
once afterwards (``step_failure_details``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from datetime import datetime, timezone
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
    :param poll_interval: seconds between two looks at the cluster (the shared poll uses the
        shortest interval of the triggers it serves).
    :param terminate_on_kill: terminate the cluster when a user marks the deferred task failed
        or clears it.
    :param created_after: an ISO 8601 moment at or before the cluster's creation, used as the
        shared listing's ``CreatedAfter``; ``None`` to read it with one DescribeCluster.
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
        created_after: str | None = None,
    ) -> None:
        super().__init__()
        self.job_flow_id = job_flow_id
        self.target_states = sorted(target_states)
        self.failure_states = sorted(failure_states)
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.poll_interval = poll_interval
        self.terminate_on_kill = terminate_on_kill
        self.created_after = created_after

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return this trigger's importable classpath and the arguments to rebuild it.

        ``created_after`` is written only when set, so a trigger serialized before it existed
        and one without it look the same.
        """
        kwargs: dict[str, Any] = {
            "job_flow_id": self.job_flow_id,
            "target_states": list(self.target_states),
            "failure_states": list(self.failure_states),
            "aws_conn_id": self.aws_conn_id,
            "region_name": self.region_name,
            "poll_interval": self.poll_interval,
            "terminate_on_kill": self.terminate_on_kill,
        }
        if self.created_after is not None:
            kwargs["created_after"] = self.created_after
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

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
        """Follow the cluster through the shared poll until it reaches a final state."""
        from atmo_provider.triggers.poller import shared_poller

        poller = shared_poller(self.aws_conn_id, self.region_name)
        try:
            watch = await poller.register(
                self.job_flow_id, self.poll_interval, _parse_moment(self.created_after)
            )
        except Exception as exc:
            yield self._error(exc)
            return

        self._registration = (poller, watch)
        try:
            event = await self._wait(poller, watch)
        finally:
            poller.unregister(watch)
        yield event

    async def cleanup(self) -> None:
        """Leave the shared poll if the triggerer removes this trigger while it waits."""
        registration = getattr(self, "_registration", None)
        if registration is not None:
            poller, watch = registration
            poller.unregister(watch)
        await super().cleanup()

    async def _wait(self, poller: Any, watch: Any) -> TriggerEvent:
        from atmo_provider.aws.states import ALIVE_STATES

        last_state = None
        while True:
            try:
                cluster, listed = await watch.next_answer()
                state = cluster["state"]
                if listed and state in ALIVE_STATES and state in self.target_states:
                    # A summary has no master address, tags or log URI: describe a cluster
                    # that is ready for use once, for whoever records it.
                    cluster = await asyncio.to_thread(poller.emr.describe, self.job_flow_id)
            except Exception as exc:
                return self._error(exc)

            state = cluster["state"]
            if state in self.target_states:
                return self._event("success", cluster, f"Cluster {self.job_flow_id} is {state}")
            if state in self.failure_states:
                reason = cluster["state_change_reason_message"] or "no reason given"
                code = cluster["state_change_reason_code"] or "no code"
                message = f"Cluster {self.job_flow_id} is {state} ({code}: {reason})"
                return self._event("failure", cluster, message)

            if state != last_state:
                self.log.info(
                    "Cluster %s is %s; waiting for %s",
                    self.job_flow_id,
                    state,
                    " or ".join(self.target_states),
                )
                last_state = state

    def _error(self, exc: BaseException) -> TriggerEvent:
        message = str(exc)
        if not message.startswith("Could not describe"):
            message = f"Could not describe cluster {self.job_flow_id}: {exc}"
        self.log.error(message)
        return self._event("error", None, message)

    async def on_kill(self) -> None:
        """Terminate the cluster when a user marked the deferred task failed or cleared it."""
        if not self.terminate_on_kill:
            return

        self.log.warning(
            "The task waiting for cluster %s was stopped by a user; terminating the cluster",
            self.job_flow_id,
        )
        await asyncio.to_thread(self._emr().terminate, self.job_flow_id)


def _parse_moment(value: str | None) -> datetime | None:
    if value is None:
        return None

    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment
