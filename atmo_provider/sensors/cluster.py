"""Sensors that wait for an EMR cluster to be ready or to be gone.

Deferrable by default: after a first look, the wait moves to the triggerer
(:class:`~atmo_provider.triggers.cluster.AtmoClusterStateTrigger`). With
``terminate_on_failure`` no cluster outlives the sensor's failure: a failed or timed-out wait,
a kill on the worker (:meth:`on_kill`) and a user's kill while deferred (the trigger's
``on_kill``) all terminate it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from atmo_provider.aws.states import ENDING_STATES, READY_STATES
from atmo_provider.errors import EmrFailure
from atmo_provider.links import (
    EmrClusterLogsLink,
    EmrConsoleLink,
    SparkHistoryLink,
    persist_cluster_link,
    restore_cluster_link,
)
from atmo_provider.operators.common import resolve_settings, terminate_quietly

if TYPE_CHECKING:
    from airflow.sdk import Context

    from atmo_provider.aws.emr import EmrClusters
    from atmo_provider.settings import AtmoSettings

__all__ = ["AtmoClusterReadySensor", "AtmoClusterTerminatedSensor"]


class _AtmoClusterSensor(BaseSensorOperator):
    """Wait for the cluster ``job_flow_id`` to reach one of :attr:`target_states`.

    :param job_flow_id: the cluster to watch (templated).
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param terminate_on_failure: terminate the cluster when this task fails, times out or is
        killed.
    :param poll_interval: seconds between two looks; ``None`` for ``[atmo] poll_interval``.
    :param aws_conn_id: the Airflow AWS connection; ``None`` for ``[atmo] aws_conn_id``.
    :param settings: the provider's settings; ``None`` to read them at execute time.
    """

    template_fields = ("job_flow_id",)

    #: States that end the wait successfully.
    target_states: ClassVar[frozenset[str]] = frozenset()

    #: States that mean the wait can never succeed.
    failure_states: ClassVar[frozenset[str]] = frozenset()

    operator_extra_links = (EmrConsoleLink(), EmrClusterLogsLink(), SparkHistoryLink())

    def __init__(
        self,
        *,
        job_flow_id: str,
        deferrable: bool = True,
        terminate_on_failure: bool = False,
        poll_interval: float | None = None,
        aws_conn_id: str | None = None,
        settings: AtmoSettings | None = None,
        **kwargs: Any,
    ) -> None:
        if poll_interval is not None:
            kwargs.setdefault("poke_interval", poll_interval)
        super().__init__(**kwargs)
        self.job_flow_id = job_flow_id
        self.deferrable = deferrable
        self.terminate_on_failure = terminate_on_failure
        self.poll_interval = poll_interval
        self.aws_conn_id = aws_conn_id
        self.settings = settings
        self._emr: EmrClusters | None = None
        self._link_persisted = False

    def _settings(self) -> AtmoSettings:
        self.settings = resolve_settings(self.settings)
        return self.settings

    @property
    def emr(self) -> EmrClusters:
        """EMR calls through this task's AWS connection."""
        if self._emr is None:
            from atmo_provider.aws.emr import EmrClusters

            settings = self._settings()
            self._emr = EmrClusters(self.aws_conn_id or settings.aws_conn_id, settings.region_name)
        return self._emr

    def _interval(self) -> float:
        if self.poll_interval is not None:
            return float(self.poll_interval)
        return float(self._settings().poll_interval)

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """Describe the cluster: done in a target state, :class:`EmrFailure` in a failure state."""
        from atmo_provider.aws.emr import to_json

        cluster = self.emr.describe(self.job_flow_id)
        if not self._link_persisted:
            persist_cluster_link(
                context, self.job_flow_id, self.emr.region_name, cluster["log_uri"]
            )
            self._link_persisted = True

        state = cluster["state"]
        if state in self.target_states:
            self.log.info("Cluster %s is %s", self.job_flow_id, state)
            return PokeReturnValue(is_done=True, xcom_value=to_json(cluster))
        if state in self.failure_states:
            raise self._failure(cluster)

        self.log.info("Cluster %s is %s; waiting", self.job_flow_id, state)
        return False

    def _failure(self, cluster: dict[str, Any]) -> EmrFailure:
        code = cluster.get("state_change_reason_code")
        message = cluster.get("state_change_reason_message")
        return EmrFailure(
            f"Cluster {self.job_flow_id} is {cluster.get('state')} "
            f"({code or 'no reason code'}: {message or 'no message'})",
            reason_code=code,
            reason_message=message,
        )

    def execute(self, context: Context) -> Any:
        """Wait for the cluster, in the triggerer when ``deferrable``; clean up on failure."""
        from airflow.sdk.exceptions import TaskDeferred

        self.poke_interval = self._interval()
        try:
            if not self.deferrable:
                return super().execute(context)
            return self._execute_deferrable(context)
        except TaskDeferred:
            raise
        except EmrFailure:
            # The cluster ended by itself; there is nothing left to terminate.
            raise
        except BaseException as exc:
            self._clean_up(f"the task failed ({type(exc).__name__}: {exc})")
            raise

    def _execute_deferrable(self, context: Context) -> Any:
        from atmo_provider.triggers.cluster import AtmoClusterStateTrigger

        done = self.poke(context)
        if done:
            return done.xcom_value if isinstance(done, PokeReturnValue) else None

        settings = self._settings()
        self.defer(
            trigger=AtmoClusterStateTrigger(
                job_flow_id=self.job_flow_id,
                target_states=self.target_states,
                failure_states=self.failure_states,
                aws_conn_id=self.aws_conn_id or settings.aws_conn_id,
                region_name=settings.region_name,
                poll_interval=self.poke_interval,
                terminate_on_kill=self.terminate_on_failure,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Finish after the trigger fired: return the cluster, or fail with EMR's reason."""
        status = event.get("status")
        if status == "success":
            self.log.info(event.get("message"))
            return event.get("cluster")
        if status == "failure":
            raise self._failure(event.get("cluster") or {"state": "unknown"})
        raise RuntimeError(event.get("message") or f"Waiting for {self.job_flow_id} failed")

    def resume_execution(
        self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context
    ) -> Any:
        """Resume after deferral; a timeout or error while deferred terminates the cluster."""
        self._link_persisted = restore_cluster_link(context) is not None
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except EmrFailure:
            raise
        except BaseException as exc:
            self._clean_up(f"the wait ended without success ({type(exc).__name__}: {exc})")
            raise

    def _clean_up(self, why: str) -> None:
        if self.terminate_on_failure:
            terminate_quietly(self.emr, self.job_flow_id, why)

    def on_kill(self) -> None:
        """Terminate the cluster when the task is killed on its worker (poke mode)."""
        self._clean_up("the task was killed")


class AtmoClusterReadySensor(_AtmoClusterSensor):
    """Wait until the cluster ``job_flow_id`` is ready (``WAITING`` or ``RUNNING``).

    Fails with EMR's reason code and message once the cluster is ``TERMINATING``,
    ``TERMINATED`` or ``TERMINATED_WITH_ERRORS``; it will never be ready then. Returns the
    cluster's description (master node address included) as XCom. A refusal of spot capacity
    is handled before, by :class:`~atmo_provider.operators.cluster.AtmoCreateClusterOperator`;
    this sensor reports it only when ``[atmo] spot_fallback_on_demand`` is off.

    :param job_flow_id: the cluster to watch (templated).
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param terminate_on_failure: terminate the cluster when this task fails, times out or is
        killed, so that no cluster outlives a failed launch.
    :param poll_interval: seconds between two looks; ``None`` for ``[atmo] poll_interval``.
    :param aws_conn_id: the Airflow AWS connection; ``None`` for ``[atmo] aws_conn_id``.
    """

    target_states = READY_STATES
    failure_states = ENDING_STATES

    def __init__(
        self,
        *,
        job_flow_id: str,
        deferrable: bool = True,
        terminate_on_failure: bool = True,
        poll_interval: float | None = None,
        aws_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            job_flow_id=job_flow_id,
            deferrable=deferrable,
            terminate_on_failure=terminate_on_failure,
            poll_interval=poll_interval,
            aws_conn_id=aws_conn_id,
            **kwargs,
        )


class AtmoClusterTerminatedSensor(_AtmoClusterSensor):
    """Wait until the cluster ``job_flow_id`` is ``TERMINATED``.

    Fails with EMR's reason code and message when it ends ``TERMINATED_WITH_ERRORS``.

    :param job_flow_id: the cluster to watch (templated).
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param poll_interval: seconds between two looks; ``None`` for ``[atmo] poll_interval``.
    :param aws_conn_id: the Airflow AWS connection; ``None`` for ``[atmo] aws_conn_id``.
    :param terminate_on_failure: terminate the cluster when this task fails, times out or is
        killed (off by default: waiting for the end is not owning the cluster).
    """

    target_states = frozenset({"TERMINATED"})
    failure_states = frozenset({"TERMINATED_WITH_ERRORS"})

    def __init__(
        self,
        *,
        job_flow_id: str,
        deferrable: bool = True,
        poll_interval: float | None = None,
        aws_conn_id: str | None = None,
        terminate_on_failure: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            job_flow_id=job_flow_id,
            deferrable=deferrable,
            terminate_on_failure=terminate_on_failure,
            poll_interval=poll_interval,
            aws_conn_id=aws_conn_id,
            **kwargs,
        )
