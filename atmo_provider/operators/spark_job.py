"""Operators of scheduled Spark jobs: upload the notebook, run it on a transient cluster.

:class:`AtmoUploadNotebookOperator` lives in :mod:`atmo_provider.operators.notebook_upload` and
is importable from here too.

:class:`AtmoSparkJobOperator` owns its cluster from launch to end: it launches it at most once
per task instance (``atmo:task-instance`` tag), waits for it to terminate (in the triggerer by
default), succeeds only when the notebook step completed, and terminates the cluster when the
task is killed, cleared, marked failed or times out.
"""

from __future__ import annotations

import threading
import time
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from atmo_provider.errors import AtmoConfigurationError, AtmoValidationError, EmrFailure
from atmo_provider.links import (
    EmrClusterLogsLink,
    EmrConsoleLink,
    SparkHistoryLink,
    persist_cluster_link,
    restore_cluster_link,
)
from atmo_provider.operators.common import (
    created_after,
    resolve_settings,
    task_instance_tag,
    terminate_launch,
    terminate_quietly,
    validate_identifier,
)
from atmo_provider.operators.job_outcome import describe_failure, succeeded
from atmo_provider.operators.notebook_upload import AtmoUploadNotebookOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from atmo_provider.provisioners import SparkJobProvisioner
    from atmo_provider.settings import AtmoSettings

__all__ = ["AtmoSparkJobOperator", "AtmoUploadNotebookOperator"]

#: Tag key holding how often the DAG run was cleared when the cluster was launched.
CLEAR_NUMBER_TAG = "atmo:clear-number"

#: Where a notebook may run: on a transient EMR cluster, or on the worker.
EXECUTIONS = ("emr", "local")

#: Result visibilities a job may have.
VISIBILITIES = ("private", "public")

#: Bounds of a job's timeout, in hours (ATMO's rule).
MIN_JOB_TIMEOUT, MAX_JOB_TIMEOUT = 1, 24


class AtmoSparkJobOperator(BaseOperator):
    """Run a Spark job's notebook on a transient EMR cluster and wait for its end.

    With ``[atmo] execution = local`` the notebook runs on the worker instead
    (:mod:`atmo_provider.operators.local_run`): the task then holds its worker slot until the
    notebook ends, and the results go to the same place.

    Succeeds only when the notebook step ``COMPLETED``; returns ``{"job_flow_id", "step_id",
    "results_uri"}``. A ``FAILED``, ``CANCELLED`` or ``INTERRUPTED`` step, or a cluster ending
    ``TERMINATED_WITH_ERRORS``, raises :class:`~atmo_provider.errors.EmrFailure` with EMR's
    reason, the S3 log location and the tail of the step's stderr when EMR copied it.

    The cluster is terminated when the task times out (``execution_timeout``, also while
    deferred) or is killed, marked failed or cleared; after other failures it runs on and ends
    by itself after its step. A retry reuses the cluster an earlier try launched while it lives,
    and the result of one that already completed the step in the same clearing of the DAG run.
    When EMR fails a spot cluster for want of capacity and ``[atmo] spot_fallback_on_demand``
    is set, the job is launched again on on-demand instances. Set ``execution_timeout`` in the
    DAG (the job DAGs derive it from ``job_timeout``).

    :param identifier: the job's identifier (templated).
    :param owner: the owner's user name (templated, as ``owner_username``: ``owner`` is the
        Airflow task owner, which cannot be templated).
    :param owner_email: the owner's email, the ``Owner`` tag (templated).
    :param notebook_uri: ``s3://`` URI of the notebook to run (templated).
    :param size: the number of nodes, at least 1.
    :param job_timeout: hours, 1 to 24, after which the cluster's watchdog ends the run.
    :param result_visibility: ``private`` or ``public``: the data bucket of the results.
    :param emr_release: the EMR release, e.g. ``6.15.0``; ``None`` for the default.
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param poll_interval: seconds between two looks; ``None`` for ``[atmo] poll_interval``.
    :param aws_conn_id: the Airflow AWS connection; ``None`` for ``[atmo] aws_conn_id``.
    :param settings: the provider's settings; ``None`` to read them at execute time.
    """

    template_fields = ("identifier", "owner_username", "owner_email", "notebook_uri")
    ui_color = "#f4a460"
    operator_extra_links = (EmrConsoleLink(), EmrClusterLogsLink(), SparkHistoryLink())

    def __init__(
        self,
        *,
        identifier: str,
        owner: str,
        owner_email: str,
        notebook_uri: str,
        size: int = 1,
        job_timeout: int = 24,
        result_visibility: str = "private",
        emr_release: str | None = None,
        deferrable: bool = True,
        poll_interval: float | None = None,
        aws_conn_id: str | None = None,
        settings: AtmoSettings | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.identifier = identifier
        self.owner_username = owner
        self.owner_email = owner_email
        self.notebook_uri = notebook_uri
        self.size = size
        self.job_timeout = job_timeout
        self.result_visibility = result_visibility
        self.emr_release = emr_release
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.aws_conn_id = aws_conn_id
        self.settings = settings
        self._provisioner: SparkJobProvisioner | None = None
        self._jobflow_id: str | None = None
        self._launch_identity: tuple[str, datetime, str] | None = None
        self._cancel: threading.Event | None = None

    @property
    def provisioner(self) -> SparkJobProvisioner:
        """The Spark job provisioner of this task's settings and connection."""
        if self._provisioner is None:
            from atmo_provider.provisioners import SparkJobProvisioner

            self.settings = resolve_settings(self.settings)
            self._provisioner = SparkJobProvisioner(self.settings, self.aws_conn_id)
        return self._provisioner

    @property
    def is_public(self) -> bool:
        """Whether the results go to the public data bucket."""
        return self.result_visibility == "public"

    def _check_arguments(self) -> None:
        validate_identifier(self.identifier)
        if self.result_visibility not in VISIBILITIES:
            raise AtmoValidationError(
                "result_visibility",
                f"must be 'private' or 'public', got {self.result_visibility!r}",
            )
        if not MIN_JOB_TIMEOUT <= int(self.job_timeout) <= MAX_JOB_TIMEOUT:
            raise AtmoValidationError(
                "job_timeout",
                f"must be between {MIN_JOB_TIMEOUT} and {MAX_JOB_TIMEOUT} hours, "
                f"got {self.job_timeout}",
            )
        if int(self.size) < 1:
            raise AtmoValidationError("size", f"must be at least 1, got {self.size}")

    def _params(self, context: Context) -> dict[str, Any]:
        provisioner = self.provisioner
        params = provisioner.run_params(
            self.owner_username,
            self.owner_email,
            self.identifier,
            self.emr_release or provisioner.settings.default_emr_release,
            int(self.size),
            self.notebook_uri,
            int(self.job_timeout),
            self.is_public,
            run_date=_run_date(context),
        )
        params["Tags"].append({"Key": CLEAR_NUMBER_TAG, "Value": _clear_number(context)})
        return params

    def execute(self, context: Context) -> dict[str, Any]:
        """Launch (or find) the job's cluster and wait for it to end."""
        from airflow.sdk.exceptions import AirflowTaskTimeout

        self._check_arguments()
        provisioner = self.provisioner
        provisioner.check_notebook(self.notebook_uri)

        if _execution(provisioner.settings) == "local":
            from atmo_provider.operators.local_run import run_locally

            self._cancel = threading.Event()
            return run_locally(self, context, _run_date(context), self._cancel)

        params = self._params(context)

        finished = self._result_of_earlier_try(context, params)
        if finished is not None:
            return finished

        self.log.info(
            "Running notebook %s of Spark job %s on %s",
            self.notebook_uri,
            self.identifier,
            params["Name"],
        )
        try:
            return self._launch_and_wait(context, params)
        except AirflowTaskTimeout:
            terminate_launch(
                self.provisioner, self._jobflow_id, self._launch_identity, "the task timed out"
            )
            raise

    def _launch_and_wait(self, context: Context, params: dict[str, Any]) -> dict[str, Any]:
        provisioner = self.provisioner
        tag, after = task_instance_tag(context), created_after(context)
        self._launch_identity = (tag, after, params["Name"])
        launch = provisioner.launch(params, task_instance_tag=tag, created_after=after)
        self._jobflow_id = launch.jobflow_id
        log_uri = params["LogUri"]
        if launch.reused:
            log_uri = provisioner.describe(launch.jobflow_id)["log_uri"]
        persist_cluster_link(context, launch.jobflow_id, provisioner.settings.region_name, log_uri)
        return self._wait(context, launch.jobflow_id)

    def _result_of_earlier_try(
        self, context: Context, params: dict[str, Any]
    ) -> dict[str, Any] | None:
        found = self.provisioner.find_by_task_instance(
            task_instance_tag(context), created_after(context), params["Name"], {"TERMINATED"}
        )
        if found is None or found["tags"].get(CLEAR_NUMBER_TAG) != _clear_number(context):
            return None

        details = self.provisioner.step_failure_details(found["jobflow_id"])
        if not succeeded(details):
            return None
        self.log.info(
            "Cluster %s of an earlier try already ran Spark job %s to completion",
            found["jobflow_id"],
            self.identifier,
        )
        return self._result(context, details)

    def _interval(self) -> float:
        if self.poll_interval is not None:
            return float(self.poll_interval)
        return float(self.provisioner.settings.poll_interval)

    def _wait(self, context: Context, jobflow_id: str) -> dict[str, Any]:
        from atmo_provider.aws.states import TERMINAL_STATES

        provisioner = self.provisioner
        if self.deferrable:
            from atmo_provider.triggers.cluster import AtmoClusterStateTrigger

            self.defer(
                trigger=AtmoClusterStateTrigger(
                    job_flow_id=jobflow_id,
                    target_states=TERMINAL_STATES,
                    aws_conn_id=provisioner.aws_conn_id,
                    region_name=provisioner.settings.region_name,
                    poll_interval=self._interval(),
                    terminate_on_kill=True,
                ),
                method_name="execute_complete",
                timeout=self.execution_timeout,
            )

        last_state = None
        while True:
            state = provisioner.describe(jobflow_id)["state"]
            if state in TERMINAL_STATES:
                return self._finish(context, jobflow_id)
            if state != last_state:
                self.log.info(
                    "Cluster %s of Spark job %s is %s", jobflow_id, self.identifier, state
                )
                last_state = state
            time.sleep(self._interval())

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Finish after the trigger saw the cluster terminate."""
        if event.get("status") != "success":
            raise RuntimeError(event.get("message") or "Waiting for the job's cluster failed")
        self._jobflow_id = event["job_flow_id"]
        return self._finish(context, event["job_flow_id"])

    def _finish(self, context: Context, jobflow_id: str) -> dict[str, Any]:
        from atmo_provider.provisioners import is_spot_capacity_refusal, with_on_demand_instances

        details = self.provisioner.step_failure_details(jobflow_id)
        if succeeded(details):
            result = self._result(context, details)
            self.log.info(
                "Spark job %s completed on cluster %s; results in %s",
                self.identifier,
                jobflow_id,
                result["results_uri"],
            )
            return result

        if (
            self.provisioner.settings.spot_fallback_on_demand
            and is_spot_capacity_refusal(details["reason_code"], details["reason_message"])
            and "SPOT" in self.provisioner.emr.instance_markets(jobflow_id)
        ):
            self.log.warning(
                "EMR ended cluster %s of Spark job %s for want of spot capacity (%s); "
                "launching the job again on on-demand instances",
                jobflow_id,
                self.identifier,
                details["reason_message"],
            )
            return self._launch_and_wait(context, with_on_demand_instances(self._params(context)))

        raise EmrFailure(
            describe_failure(self.identifier, details),
            reason_code=details["reason_code"],
            reason_message=details["reason_message"],
        )

    def _result(self, context: Context, details: dict[str, Any]) -> dict[str, Any]:
        run_date = _run_date(context)
        return {
            "job_flow_id": details["jobflow_id"],
            "step_id": details["step_id"],
            "results_uri": self.provisioner.results_uri(self.identifier, self.is_public, run_date),
        }

    def resume_execution(
        self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context
    ) -> Any:
        """Resume after deferral; a timeout while deferred terminates the job's cluster.

        Other failures of the wait leave the cluster, which ends by itself after its step (and
        at the latest after ``job_timeout``): a retry of the task reuses it.
        """
        from airflow.sdk.exceptions import AirflowTaskTimeout, TaskDeferralTimeout

        recorded = restore_cluster_link(context)
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except (TaskDeferralTimeout, AirflowTaskTimeout) as exc:
            jobflow_id = self._jobflow_id or (recorded or {}).get("job_flow_id")
            why = f"the task timed out ({type(exc).__name__})"
            terminate_quietly(self.provisioner.emr, jobflow_id, why)
            raise

    def on_kill(self) -> None:
        """Terminate the job's cluster when the task is killed on its worker.

        A kill during RunJobFlow leaves no id to act on; the cluster is then found by its tag.
        A local run is stopped with its kernel and Spark processes.
        """
        if self._cancel is not None:
            self._cancel.set()
        if self._provisioner is not None:
            terminate_launch(
                self._provisioner, self._jobflow_id, self._launch_identity, "the task was killed"
            )


def _execution(settings: AtmoSettings) -> str:
    if settings.execution not in EXECUTIONS:
        raise AtmoConfigurationError(
            f"[atmo] execution must be one of {', '.join(EXECUTIONS)}, got {settings.execution!r}"
        )
    return settings.execution


def _run_date(context: Context) -> date:
    """Return the date naming the run's results folder: the DAG run's logical date, in UTC."""
    dag_run = context.get("dag_run")
    moment = getattr(dag_run, "logical_date", None) or getattr(dag_run, "run_after", None)
    if moment is None:
        return datetime.now(timezone.utc).date()
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.date()


def _clear_number(context: Context) -> str:
    dag_run = context.get("dag_run")
    return str(getattr(dag_run, "clear_number", 0) or 0)
