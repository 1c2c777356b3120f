"""What ATMO's operators and sensors share: the launch tag, settings, and cleaning up clusters."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from atmo_provider.validation.patterns import IDENTIFIER_RE

if TYPE_CHECKING:
    from airflow.sdk import Context

    from atmo_provider.settings import AtmoSettings

__all__ = [
    "CREATED_AFTER_MARGIN",
    "created_after",
    "resolve_settings",
    "task_instance_tag",
    "terminate_launch",
    "terminate_quietly",
    "validate_identifier",
]

log = logging.getLogger(__name__)

#: How long before the DAG run's start a cluster of one of its tasks may have been created
#: (clock differences between Airflow and AWS).
CREATED_AFTER_MARGIN = timedelta(minutes=15)


def resolve_settings(settings: AtmoSettings | None = None) -> AtmoSettings:
    """Return ``settings``, or the ``[atmo]`` configuration read now (at execute time)."""
    if settings is not None:
        return settings

    from atmo_provider.settings import get_settings

    return get_settings()


def task_instance_tag(context: Context) -> str:
    """Return the launch's identity ``<dag_id>/<run_id>/<task_id>/<map_index>``.

    It is the same for every try of a task instance, so a retry finds the cluster an earlier
    try launched.
    """
    ti = context["ti"]
    map_index = getattr(ti, "map_index", -1)
    if map_index is None:
        map_index = -1
    return f"{ti.dag_id}/{ti.run_id}/{ti.task_id}/{map_index}"


def created_after(context: Context) -> datetime:
    """Return the moment after which the clusters of this DAG run's tasks were created."""
    dag_run = context.get("dag_run")
    started = getattr(dag_run, "start_date", None) if dag_run is not None else None
    if started is None:
        started = datetime.now(timezone.utc)
    if started.tzinfo is None:
        started = started.replace(tzinfo=timezone.utc)
    return started - CREATED_AFTER_MARGIN


def validate_identifier(identifier: Any) -> str:
    """Return ``identifier`` if it is 1 to 100 lowercase letters, digits and dashes."""
    from atmo_provider.errors import AtmoValidationError

    if not isinstance(identifier, str) or not IDENTIFIER_RE.fullmatch(identifier):
        raise AtmoValidationError(
            "identifier",
            f"must be 1 to 100 lowercase letters, digits and dashes, got {identifier!r}",
        )
    return identifier


def terminate_quietly(emr: Any, jobflow_id: str | None, why: str) -> None:
    """Terminate the cluster ``jobflow_id`` because ``why``; log rather than raise on error.

    Called while a task is already failing: the task's own error must stay the one reported.

    :param emr: an :class:`~atmo_provider.aws.emr.EmrClusters`.
    :param jobflow_id: the cluster to terminate; nothing happens for ``None``.
    :param why: the reason, for the log ("the sensor timed out").
    """
    if not jobflow_id:
        return
    log.warning("Terminating cluster %s because %s", jobflow_id, why)
    try:
        emr.terminate(jobflow_id)
    except Exception:
        log.exception("Could not terminate cluster %s; terminate it by hand", jobflow_id)


def terminate_launch(
    provisioner: Any,
    jobflow_id: str | None,
    identity: tuple[str, datetime, str] | None,
    why: str,
) -> None:
    """Terminate the cluster of a launch, found by its tag when its id is not known yet.

    A task killed while RunJobFlow was under way has no job flow id; the cluster it may have
    started carries the launch's tag.

    :param provisioner: the task's provisioner.
    :param jobflow_id: the cluster's id, if known.
    :param identity: ``(task instance tag, created after, cluster name)`` of the launch.
    :param why: the reason, for the log.
    """
    if jobflow_id is None and identity is not None:
        tag, after, name = identity
        try:
            found = provisioner.find_by_task_instance(tag, after, name)
        except Exception:
            log.exception("Could not look for the cluster launched for %s", tag)
            found = None
        jobflow_id = found["jobflow_id"] if found else None
    terminate_quietly(provisioner.emr, jobflow_id, why)
