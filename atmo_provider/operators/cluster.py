"""Operators that launch an ATMO cluster (at most once per task instance) and terminate it."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from atmo_provider.aws.states import ENDING_STATES
from atmo_provider.errors import AtmoValidationError
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

if TYPE_CHECKING:
    from airflow.sdk import Context

    from atmo_provider.provisioners import ClusterProvisioner, Launch
    from atmo_provider.settings import AtmoSettings

__all__ = ["AtmoCreateClusterOperator", "AtmoTerminateClusterOperator"]

#: Tag key holding the lifetime, in hours, the user asked for.
LIFETIME_TAG = "atmo:lifetime-hours"

#: States of a cluster whose instances EMR provisioned, or that will never get them.
PROVISIONED_STATES = frozenset({"BOOTSTRAPPING", "RUNNING", "WAITING"}) | ENDING_STATES

#: How long a launch waits for EMR to provision spot instances, unless the task's
#: ``execution_timeout`` says otherwise; a cluster still starting then is terminated.
CAPACITY_WAIT = timedelta(hours=1)


def _as_int(field: str, value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise AtmoValidationError(field, f"must be a whole number, got {value!r}") from None


class AtmoCreateClusterOperator(BaseOperator):
    """Launch an ATMO cluster for ``owner`` and return its job flow id.

    The cluster is tagged with this task instance (``atmo:task-instance``); every try first
    looks for a live cluster with that tag and reuses it, so a retried task, or a RunJobFlow
    that failed in passing after EMR applied it, never leaves a second cluster. botocore does
    not retry RunJobFlow; transient errors lead to a full-jitter wait and a new look.

    When the cluster asks for spot instances and ``[atmo] spot_fallback_on_demand`` is set,
    the task waits until EMR has provisioned them (the cluster leaves ``STARTING``; in the
    triggerer when ``deferrable``). If EMR refuses spot capacity, at RunJobFlow or by ending
    the cluster, the cluster is launched again on on-demand instances. A cluster still
    ``STARTING`` after ``execution_timeout`` (an hour when unset) is terminated.

    :param identifier: the cluster's identifier, 1 to 100 of ``a-z``, ``0-9`` and ``-``
        (templated).
    :param owner: the owner's user name, part of the cluster name (templated, as
        ``owner_username``: ``owner`` is the Airflow task owner, which cannot be templated).
    :param owner_email: the owner's email, the ``Owner`` tag (templated).
    :param ssh_public_key: the SSH public key installed on the master node (templated).
    :param size: the number of nodes, at least 1 (templated).
    :param lifetime: hours the cluster is meant to live, within the configured bounds
        (templated); recorded in the ``atmo:lifetime-hours`` tag.
    :param emr_release: the EMR release, e.g. ``6.15.0``; ``None`` for the default
        (templated).
    :param aws_conn_id: the Airflow AWS connection; ``None`` for ``[atmo] aws_conn_id``.
    :param deferrable: wait for spot capacity in the triggerer instead of a worker slot.
    :param poll_interval: seconds between two looks; ``None`` for ``[atmo] poll_interval``.
    :param settings: the provider's settings; ``None`` to read them at execute time.
    """

    template_fields = (
        "identifier",
        "owner_username",
        "owner_email",
        "ssh_public_key",
        "size",
        "lifetime",
        "emr_release",
    )
    ui_color = "#f9c915"
    operator_extra_links = (EmrConsoleLink(), EmrClusterLogsLink(), SparkHistoryLink())

    def __init__(
        self,
        *,
        identifier: str,
        owner: str,
        owner_email: str,
        ssh_public_key: str,
        size: int | str = 1,
        lifetime: int | str = 8,
        emr_release: str | None = None,
        aws_conn_id: str | None = None,
        deferrable: bool = True,
        poll_interval: float | None = None,
        settings: AtmoSettings | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.identifier = identifier
        self.owner_username = owner
        self.owner_email = owner_email
        self.ssh_public_key = ssh_public_key
        self.size = size
        self.lifetime = lifetime
        self.emr_release = emr_release
        self.aws_conn_id = aws_conn_id
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.settings = settings
        self._provisioner: ClusterProvisioner | None = None
        self._jobflow_id: str | None = None
        self._launch_identity: tuple[str, Any, str] | None = None

    @property
    def provisioner(self) -> ClusterProvisioner:
        """The cluster provisioner of this task's settings and connection."""
        if self._provisioner is None:
            from atmo_provider.provisioners import ClusterProvisioner

            self.settings = resolve_settings(self.settings)
            self._provisioner = ClusterProvisioner(self.settings, self.aws_conn_id)
        return self._provisioner

    def _params(self) -> dict[str, Any]:
        provisioner = self.provisioner
        settings = provisioner.settings
        lifetime = _as_int("lifetime", self.lifetime)
        low, high = settings.min_cluster_lifetime, settings.max_cluster_lifetime
        if not low <= lifetime <= high:
            raise AtmoValidationError(
                "lifetime", f"must be between {low} and {high} hours, got {lifetime}"
            )

        params = provisioner.start_params(
            self.owner_username,
            self.owner_email,
            validate_identifier(self.identifier),
            self.emr_release or settings.default_emr_release,
            _as_int("size", self.size),
            self.ssh_public_key,
        )
        params["Tags"].append({"Key": LIFETIME_TAG, "Value": str(lifetime)})
        return params

    def execute(self, context: Context) -> str:
        """Launch the cluster, or find the one an earlier try launched; return its id."""
        from atmo_provider.provisioners import uses_spot_instances

        params = self._params()
        self._refuse_a_second_cluster(context, params)
        self.log.info(
            "Launching cluster %s for %s: %s node(s), EMR %s, lifetime %s h",
            params["Name"],
            self.owner_username,
            self.size,
            params["ReleaseLabel"],
            self.lifetime,
        )
        launch = self._launch(context, params)
        settings = self.provisioner.settings
        if (
            settings.spot_fallback_on_demand
            and uses_spot_instances(params)
            and not launch.on_demand_fallback
        ):
            return self._await_spot_capacity(context, launch.jobflow_id)
        return launch.jobflow_id

    def _refuse_a_second_cluster(self, context: Context, params: dict[str, Any]) -> None:
        """Fail when this launch's cluster already ended: a launch makes one cluster in its life.

        Clearing the task of a finished launch would otherwise start another cluster under the
        launch's owner without checking its request again. A live cluster is reused by the
        launch itself, and one that EMR refused for want of spot capacity does not count.
        """
        from airflow.exceptions import AirflowFailException

        from atmo_provider.provisioners import is_spot_capacity_refusal

        provisioner = self.provisioner
        tag, after = task_instance_tag(context), created_after(context)
        if provisioner.find_by_task_instance(tag, after, params["Name"]) is not None:
            return

        ended = provisioner.find_by_task_instance(tag, after, params["Name"], ENDING_STATES)
        if ended is None or is_spot_capacity_refusal(
            ended.get("state_change_reason_code"), ended.get("state_change_reason_message")
        ):
            return

        raise AirflowFailException(
            f"This launch already made cluster {ended['jobflow_id']}, which is "
            f"{ended['state']}; trigger a new launch instead of clearing this one"
        )

    def _launch(self, context: Context, params: dict[str, Any]) -> Launch:
        provisioner = self.provisioner
        tag, after = task_instance_tag(context), created_after(context)
        self._launch_identity = (tag, after, params["Name"])
        launch = provisioner.launch(params, task_instance_tag=tag, created_after=after)
        self._jobflow_id = launch.jobflow_id

        log_uri = params["LogUri"]
        if launch.reused:
            log_uri = provisioner.describe(launch.jobflow_id)["log_uri"]
        if launch.on_demand_fallback:
            self.log.warning(
                "Cluster %s runs on on-demand instances: EMR refused spot capacity",
                launch.jobflow_id,
            )
        persist_cluster_link(context, launch.jobflow_id, provisioner.settings.region_name, log_uri)
        return launch

    def _await_spot_capacity(self, context: Context, jobflow_id: str) -> str:
        provisioner = self.provisioner
        interval = self.poll_interval or provisioner.settings.poll_interval
        self.log.info("Waiting for EMR to provision the spot instances of cluster %s", jobflow_id)
        if self.deferrable:
            from atmo_provider.triggers.cluster import AtmoClusterStateTrigger

            self.defer(
                trigger=AtmoClusterStateTrigger(
                    job_flow_id=jobflow_id,
                    target_states=PROVISIONED_STATES,
                    aws_conn_id=provisioner.aws_conn_id,
                    region_name=provisioner.settings.region_name,
                    poll_interval=interval,
                    terminate_on_kill=True,
                ),
                method_name="execute_complete",
                timeout=self.execution_timeout or CAPACITY_WAIT,
            )

        deadline = time.monotonic() + (self.execution_timeout or CAPACITY_WAIT).total_seconds()
        cluster = provisioner.describe(jobflow_id)
        while cluster["state"] not in PROVISIONED_STATES:
            if time.monotonic() > deadline:
                terminate_quietly(provisioner.emr, jobflow_id, "it never left STARTING")
                raise TimeoutError(f"Cluster {jobflow_id} is still STARTING; it was terminated")
            time.sleep(interval)
            cluster = provisioner.describe(jobflow_id)
        return self._after_provisioning(context, cluster)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> str:
        """Finish after the trigger saw the cluster leave ``STARTING``."""
        if event.get("status") != "success":
            raise RuntimeError(event.get("message") or "Waiting for the cluster failed")
        self._jobflow_id = event["job_flow_id"]
        return self._after_provisioning(context, event["cluster"])

    def _after_provisioning(self, context: Context, cluster: dict[str, Any]) -> str:
        from atmo_provider.provisioners import is_spot_capacity_refusal, with_on_demand_instances

        code = cluster.get("state_change_reason_code")
        message = cluster.get("state_change_reason_message")
        if (
            cluster["state"] in ENDING_STATES
            and is_spot_capacity_refusal(code, message)
            and "SPOT" in self.provisioner.emr.instance_markets(cluster["jobflow_id"])
        ):
            self.log.warning(
                "EMR ended cluster %s for want of spot capacity (%s: %s); launching the "
                "cluster again on on-demand instances",
                cluster["jobflow_id"],
                code,
                message,
            )
            launch = self._launch(context, with_on_demand_instances(self._params()))
            return launch.jobflow_id

        self.log.info("Cluster %s has its instances (%s)", cluster["jobflow_id"], cluster["state"])
        return cluster["jobflow_id"]

    def resume_execution(
        self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context
    ) -> Any:
        """Resume after deferral; a timeout or error while deferred terminates the cluster."""
        from airflow.sdk.exceptions import TaskDeferred

        recorded = restore_cluster_link(context)
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except TaskDeferred:
            raise
        except BaseException as exc:
            jobflow_id = self._jobflow_id or (recorded or {}).get("job_flow_id")
            why = f"the wait for its instances failed ({type(exc).__name__})"
            terminate_quietly(self.provisioner.emr, jobflow_id, why)
            raise

    def on_kill(self) -> None:
        """Terminate the cluster this try launched when the task is killed on its worker.

        A kill during RunJobFlow leaves no id to act on; the cluster is then found by its tag.
        A failure other than a kill leaves the cluster: the next try finds it by its tag.
        """
        if self._provisioner is not None:
            terminate_launch(
                self._provisioner, self._jobflow_id, self._launch_identity, "the task was killed"
            )


class AtmoTerminateClusterOperator(BaseOperator):
    """Terminate the cluster ``job_flow_id``; a cluster already gone is left as it is.

    TerminateJobFlows is retried after full-jitter waits when AWS throttles it. Returns the
    cluster's state after the call.

    :param job_flow_id: the cluster to terminate (templated).
    :param aws_conn_id: the Airflow AWS connection; ``None`` for ``[atmo] aws_conn_id``.
    :param settings: the provider's settings; ``None`` to read them at execute time.
    """

    template_fields = ("job_flow_id",)
    ui_color = "#f0b8a0"
    operator_extra_links = (EmrConsoleLink(), EmrClusterLogsLink(), SparkHistoryLink())

    def __init__(
        self,
        *,
        job_flow_id: str,
        aws_conn_id: str | None = None,
        settings: AtmoSettings | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_flow_id = job_flow_id
        self.aws_conn_id = aws_conn_id
        self.settings = settings

    def execute(self, context: Context) -> str:
        """Terminate the cluster unless it already ended; return its state."""
        from atmo_provider.aws.emr import EmrClusters
        from atmo_provider.aws.states import TERMINAL_STATES

        settings = self.settings = resolve_settings(self.settings)
        if not self.job_flow_id:
            raise AtmoValidationError("job_flow_id", "is empty; no cluster to terminate")

        emr = EmrClusters(self.aws_conn_id or settings.aws_conn_id, settings.region_name)
        cluster = emr.describe(self.job_flow_id)
        persist_cluster_link(context, self.job_flow_id, settings.region_name, cluster["log_uri"])
        if cluster["state"] in TERMINAL_STATES:
            self.log.info(
                "Cluster %s is already %s; nothing to terminate",
                self.job_flow_id,
                cluster["state"],
            )
            return cluster["state"]

        self.log.info("Terminating cluster %s (%s)", self.job_flow_id, cluster["state"])
        emr.terminate(self.job_flow_id)
        state = emr.describe(self.job_flow_id)["state"]
        self.log.info("Cluster %s is %s", self.job_flow_id, state)
        return state
