"""The base provisioner: the RunJobFlow parameters ATMO's clusters and jobs share, and launching.

A launch is identified by the tag ``atmo:task-instance`` (``<dag_id>/<run_id>/<task_id>/
<map_index>``). RunJobFlow has no idempotency token, so before every attempt the provisioner
looks for a live cluster carrying the launch's tag and reuses it; RunJobFlow itself is sent once
per attempt with botocore's retries off.
"""

from __future__ import annotations

import copy
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from atmo_provider.aws.emr import EmrClusters
from atmo_provider.aws.retry import error_code
from atmo_provider.aws.states import ALIVE_STATES
from atmo_provider.backoff import ExpoBackoffFullJitter
from atmo_provider.errors import AtmoValidationError, is_transient
from atmo_provider.provisioners.emr_configuration import fetch_spark_emr_configuration

if TYPE_CHECKING:
    from atmo_provider.settings import AtmoSettings

__all__ = [
    "APPLICATION_TAG",
    "TASK_INSTANCE_TAG",
    "Launch",
    "Provisioner",
    "is_spot_capacity_refusal",
    "uses_spot_instances",
    "with_on_demand_instances",
]

log = logging.getLogger(__name__)

#: Tag key naming the task instance that launched a cluster: ``dag/run/task/map_index``.
TASK_INSTANCE_TAG = "atmo:task-instance"

#: Value of the ``Application`` tag of every cluster, for cost reports.
APPLICATION_TAG = "telemetry-analysis"

_SPOT_WORDS = re.compile(r"\bspot\b", re.IGNORECASE)
_CAPACITY_WORDS = re.compile(
    r"insufficient\w*\s*(instance\s*)?capacity|capacity\s*(is\s*)?(not\s*available|unavailable)"
    r"|no\s+spot\s+capacity|spot\s+capacity",
    re.IGNORECASE,
)


def uses_spot_instances(params: dict[str, Any]) -> bool:
    """Tell whether the RunJobFlow parameters ``params`` ask for any spot instance."""
    groups = params.get("Instances", {}).get("InstanceGroups", [])
    return any(group.get("Market") == "SPOT" for group in groups)


def with_on_demand_instances(params: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of the RunJobFlow parameters ``params`` with every spot group on-demand."""
    result = copy.deepcopy(params)
    for group in result.get("Instances", {}).get("InstanceGroups", []):
        if group.get("Market") == "SPOT":
            group["Market"] = "ON_DEMAND"
            group.pop("BidPrice", None)
    return result


def is_spot_capacity_refusal(code: str | None, message: str | None) -> bool:
    """Tell whether EMR's error or state change reason says spot capacity was refused.

    :param code: the error code (``ValidationException``) or state change reason code
        (``INSTANCE_FAILURE``, ``VALIDATION_ERROR``).
    :param message: the accompanying message.
    """
    text = message or ""
    if code in ("InsufficientInstanceCapacity", "InsufficientCapacity"):
        return True
    return bool(_CAPACITY_WORDS.search(text)) or (
        bool(_SPOT_WORDS.search(text)) and "capacity" in text.lower()
    )


def _error_message(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        message = (response.get("Error") or {}).get("Message")
        if message:
            return str(message)
    return str(exc)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Launch:
    """What :meth:`Provisioner.launch` did.

    :param jobflow_id: the cluster's job flow id.
    :param reused: the cluster was launched by an earlier attempt and found by its tag.
    :param on_demand_fallback: EMR refused spot capacity and the cluster runs on-demand.
    """

    jobflow_id: str
    reused: bool = False
    on_demand_fallback: bool = False


class Provisioner:
    """RunJobFlow parameters and cluster calls common to ATMO's clusters and Spark jobs.

    Subclasses set :attr:`log_dir` and :attr:`name_component`.

    :param settings: the provider's settings.
    :param aws_conn_id: the Airflow AWS connection; ``None`` for ``settings.aws_conn_id``.
    :param configurations: the EMR ``Configurations`` to launch with; ``None`` to read them
        from ``s3://<spark_emr_bucket>/<spark_emr_configuration_key>`` when first needed.
    :param clock: returns the current UTC time, for log locations.
    :param emr: the EMR calls to use; built from ``aws_conn_id`` when ``None``.
    """

    #: The folder of the log bucket where EMR writes these clusters' logs, e.g. ``jobs``.
    log_dir: str = ""

    #: The word for this kind of cluster in cluster names and the ``Type`` tag, e.g. ``job``.
    name_component: str = ""

    def __init__(
        self,
        settings: AtmoSettings,
        aws_conn_id: str | None = None,
        *,
        configurations: list[dict[str, Any]] | None = None,
        clock: Callable[[], datetime] | None = None,
        emr: EmrClusters | None = None,
    ) -> None:
        if not self.log_dir or not self.name_component:
            raise TypeError(f"{type(self).__name__} must set log_dir and name_component")

        self.settings = settings
        self.aws_conn_id = aws_conn_id or settings.aws_conn_id
        self._configurations = configurations
        self._clock = clock or _utcnow
        self.emr = emr or EmrClusters(self.aws_conn_id, settings.region_name)

    def cluster_name(self, user_username: str, identifier: str) -> str:
        """Return ``atmo-<environment>-<component>-<user>-<identifier>``."""
        environment = self.settings.environment
        return f"atmo-{environment}-{self.name_component}-{user_username}-{identifier}"

    def log_uri(self, identifier: str) -> str:
        """Return ``s3://<log_bucket>/<log_dir>/<identifier>/<UTC time>`` for a new launch."""
        stamp = self._clock().astimezone(timezone.utc).strftime("%Y-%m-%dT%H%M%SZ")
        return f"s3://{self.settings.log_bucket}/{self.log_dir}/{identifier}/{stamp}"

    def spark_emr_configuration(self) -> list[dict[str, Any]]:
        """Return the EMR ``Configurations`` every cluster is launched with."""
        if self._configurations is not None:
            return copy.deepcopy(self._configurations)
        return fetch_spark_emr_configuration(
            self.aws_conn_id,
            self.settings.region_name,
            self.settings.spark_emr_bucket,
            self.settings.spark_emr_configuration_key,
        )

    def _instances(self, size: int) -> dict[str, Any]:
        settings = self.settings
        groups: list[dict[str, Any]] = [
            {
                "Name": "Master",
                "Market": "ON_DEMAND",
                "InstanceRole": "MASTER",
                "InstanceType": settings.master_instance_type,
                "InstanceCount": 1,
            }
        ]
        if size > 1:
            core: dict[str, Any] = {
                "Name": "Worker Instances",
                "InstanceRole": "CORE",
                "InstanceType": settings.worker_instance_type,
                "InstanceCount": size,
            }
            if settings.use_spot_instances:
                core["Market"] = "SPOT"
                core["BidPrice"] = str(settings.spot_bid_core)
            else:
                core["Market"] = "ON_DEMAND"
            groups.append(core)

        instances: dict[str, Any] = {"InstanceGroups": groups}
        if settings.ec2_key_name:
            instances["Ec2KeyName"] = settings.ec2_key_name
        if settings.subnet_ids:
            instances["Ec2SubnetIds"] = list(settings.subnet_ids)
        if settings.master_security_group:
            instances["EmrManagedMasterSecurityGroup"] = settings.master_security_group
        if settings.slave_security_group:
            instances["EmrManagedSlaveSecurityGroup"] = settings.slave_security_group
        return instances

    def job_flow_params(
        self, user_username: str, user_email: str, identifier: str, emr_release: str, size: int
    ) -> dict[str, Any]:
        """Return the RunJobFlow parameters shared by clusters and jobs.

        A cluster of size 1 is a master node alone; a larger one has ``size`` core nodes
        besides, on spot instances at ``spot_bid_core`` when ``use_spot_instances`` is set.

        :param user_username: the owner's user name, part of the cluster name.
        :param user_email: the owner's email, the ``Owner`` tag.
        :param identifier: the cluster's or job's identifier.
        :param emr_release: the EMR release, e.g. ``6.15.0``.
        :param size: the number of nodes the user asked for.
        """
        if size < 1:
            raise AtmoValidationError("size", f"must be at least 1, got {size}")

        settings = self.settings
        name = self.cluster_name(user_username, identifier)
        params: dict[str, Any] = {
            "Name": name,
            "LogUri": self.log_uri(identifier),
            "ReleaseLabel": f"emr-{emr_release}",
            "Applications": [{"Name": application} for application in settings.applications],
            "Configurations": self.spark_emr_configuration(),
            "Instances": self._instances(size),
            "JobFlowRole": settings.instance_profile,
            "ServiceRole": settings.service_role,
            "VisibleToAllUsers": True,
            "Tags": [
                {"Key": "Owner", "Value": user_email},
                {"Key": "Name", "Value": name},
                {"Key": "Environment", "Value": settings.environment},
                {"Key": "Application", "Value": APPLICATION_TAG},
                {"Key": "App", "Value": "atmo"},
                {"Key": "Type", "Value": self.name_component},
            ],
        }
        if settings.security_configuration:
            params["SecurityConfiguration"] = settings.security_configuration
        if settings.idle_timeout_seconds > 0:
            params["AutoTerminationPolicy"] = {"IdleTimeout": settings.idle_timeout_seconds}
        return params

    def describe(self, jobflow_id: str) -> dict[str, Any]:
        """Describe the cluster ``jobflow_id``.

        :param jobflow_id: the cluster's job flow id.
        :return: see :func:`~atmo_provider.aws.emr.normalize_cluster`.
        """
        return self.emr.describe(jobflow_id)

    def stop(self, jobflow_id: str) -> None:
        """Terminate the cluster ``jobflow_id``; a terminated cluster stays terminated."""
        log.info("Terminating cluster %s", jobflow_id)
        self.emr.terminate(jobflow_id)

    def list(
        self, created_after: datetime | None = None, states: Iterable[str] | None = None
    ) -> list[dict[str, Any]]:
        """List clusters created after ``created_after`` (all pages), newest first.

        :param created_after: only clusters created after this moment; ``None`` for all.
        :param states: only clusters in these states; ``None`` for all.
        """
        return self.emr.list(created_after=created_after, states=states)

    def find_by_task_instance(
        self,
        task_instance_tag: str,
        created_after: datetime | None,
        name: str,
        states: Iterable[str] = ALIVE_STATES,
    ) -> dict[str, Any] | None:
        """Return the newest cluster named ``name`` launched for ``task_instance_tag``, if any.

        :param task_instance_tag: the launch's ``atmo:task-instance`` tag value.
        :param created_after: only clusters created after this moment.
        :param name: the cluster name the launch uses.
        :param states: only clusters in these states; by default the ones that may be reused.
        """
        return self.emr.find_by_tag(
            TASK_INSTANCE_TAG,
            task_instance_tag,
            name=name,
            created_after=created_after,
            states=states,
        )

    def launch(
        self,
        params: dict[str, Any],
        *,
        task_instance_tag: str | None = None,
        created_after: datetime | None = None,
        max_attempts: int = 6,
        base: float = 2.0,
        cap: float = 60.0,
    ) -> Launch:
        """Launch the cluster ``params`` describe, at most once for ``task_instance_tag``.

        Before each attempt, a live cluster of the same name and tag is looked for and reused.
        A transient error of RunJobFlow (the call may have been applied) leads to a
        full-jitter wait and a new look before the next attempt. When EMR refuses spot capacity
        and ``spot_fallback_on_demand`` is set, the launch is made again on on-demand instances.

        :param params: RunJobFlow parameters.
        :param task_instance_tag: the value of the ``atmo:task-instance`` tag; ``None`` to
            launch without looking for an earlier launch.
        :param created_after: look only at clusters created after this moment.
        :param max_attempts: RunJobFlow calls at most (an on-demand fallback not counted).
        :param base: ceiling of the first wait, in seconds.
        :param cap: largest ceiling of a wait, in seconds.
        """
        params = copy.deepcopy(params)
        if task_instance_tag is not None:
            params["Tags"] = [t for t in params.get("Tags", []) if t["Key"] != TASK_INSTANCE_TAG]
            params["Tags"].append({"Key": TASK_INSTANCE_TAG, "Value": task_instance_tag})

        name = params["Name"]
        waits = ExpoBackoffFullJitter(base, cap)
        attempt = 0
        on_demand_fallback = False
        while True:
            if task_instance_tag is not None:
                found = self.find_by_task_instance(task_instance_tag, created_after, name)
                if found is not None:
                    log.info(
                        "Reusing cluster %s (%s, %s) launched earlier for task instance %s",
                        found["jobflow_id"],
                        name,
                        found["state"],
                        task_instance_tag,
                    )
                    return Launch(found["jobflow_id"], True, on_demand_fallback)

            attempt += 1
            try:
                jobflow_id = self.emr.run_job_flow(params)
            except Exception as exc:
                if self._falls_back_on_demand(params, exc):
                    log.warning(
                        "EMR refused spot capacity for %s (%s: %s); launching it on on-demand "
                        "instances instead",
                        name,
                        error_code(exc),
                        _error_message(exc),
                    )
                    params = with_on_demand_instances(params)
                    on_demand_fallback = True
                    attempt -= 1
                    continue

                if attempt >= max_attempts or not is_transient(exc):
                    raise
                delay = waits.backoff(attempt - 1)
                log.warning(
                    "Launching %s failed in passing (%s); looking for it again in %.2f s "
                    "before attempt %d",
                    name,
                    error_code(exc),
                    delay,
                    attempt + 1,
                )
                time.sleep(delay)
                continue

            log.info("Launched cluster %s (%s)", jobflow_id, name)
            return Launch(jobflow_id, False, on_demand_fallback)

    def _falls_back_on_demand(self, params: dict[str, Any], exc: BaseException) -> bool:
        return (
            self.settings.spot_fallback_on_demand
            and uses_spot_instances(params)
            and is_spot_capacity_refusal(error_code(exc), _error_message(exc))
        )
