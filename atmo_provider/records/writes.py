"""Small writes of the records that tasks and the sync make: who writes what, and when.

* The launch DAG: :func:`record_launched_cluster` right after EMR accepted the cluster (before
  waiting for it), :func:`record_cluster_description` once it is ready.
* Each Spark job DAG: :func:`upsert_spark_job` and :func:`start_job_run` first,
  :func:`finish_job_run` after the run's cluster ended (then
  :func:`atmo_provider.sync.jobs.alert_failed_run` mails the owner of a failed run once).
* The sync DAG (:mod:`atmo_provider.sync`): the same functions, from what EMR lists.

Every write is idempotent: a retried task finds what its earlier try wrote (a cluster by its
job flow id, a run by its DAG run) and brings it up to date. EMR descriptions come from
:func:`atmo_provider.aws.emr.normalize_cluster`, with datetimes or ISO strings.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from atmo_provider.errors import AtmoConfigurationError
from atmo_provider.records.db import get_engine
from atmo_provider.records.mixins import utcnow
from atmo_provider.records.models import (
    FINAL_STATUSES,
    STATUS_STARTING,
    STATUS_TERMINATED,
    STATUS_TERMINATED_WITH_ERRORS,
    Cluster,
    SparkJob,
    SparkJobRun,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

    from atmo_provider.jobs.spec import JobSpec
    from atmo_provider.settings import AtmoSettings

__all__ = [
    "RUN_PENDING",
    "apply_description",
    "emr_time",
    "finish_job_run",
    "move_ownership",
    "record_cluster_description",
    "record_launched_cluster",
    "records_engine",
    "ssh_key_fingerprint",
    "start_job_run",
    "upsert_spark_job",
]

log = logging.getLogger(__name__)

#: Status of a run whose DAG run started and whose cluster is not known yet.
RUN_PENDING = "PENDING"

# Engines whose schema was found current, per process: (pid, URL).
_checked_engines: set[tuple[int, str]] = set()


def records_engine(settings: AtmoSettings) -> Engine:
    """Return the engine of ``[atmo] records_conn_id``, refusing a database not migrated.

    :param settings: gives the connection id.
    :raises AtmoConfigurationError: when the schema is not at the newest revision.
    """
    from atmo_provider.records.migrate import current_revision, head_revision

    conn_id = settings.records_conn_id
    engine = get_engine(conn_id)
    key = (os.getpid(), engine.url.render_as_string(hide_password=False))
    if key in _checked_engines:
        return engine

    current, head = current_revision(engine), head_revision()
    if current != head:
        raise AtmoConfigurationError(
            f"the records database of connection {conn_id} is at revision {current}, not "
            f"{head}; run `airflow atmo db migrate` first"
        )
    _checked_engines.add(key)
    return engine


def ssh_key_fingerprint(public_key: str) -> str:
    """Return the MD5 fingerprint of an OpenSSH public key, colon-separated hex; ``""`` if odd.

    :param public_key: one line such as ``ssh-ed25519 AAAA... comment``.
    """
    parts = (public_key or "").split()
    if len(parts) < 2:
        return ""
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        return ""
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _moment(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def emr_time(value: Any) -> datetime | None:
    """Return a time EMR reported (datetime or ISO string) in UTC, to whole milliseconds.

    ListClusters and DescribeCluster may give the same time with different precision; whole
    milliseconds keep one sync from undoing the other.
    """
    moment = _moment(value)
    if moment is None:
        return None
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _assign(obj: Any, values: Mapping[str, Any]) -> list[str]:
    """Set the attributes of ``obj`` that differ from ``values``; return their names."""
    changed = []
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed.append(name)
    return changed


def apply_description(record: Cluster | SparkJobRun, description: Mapping[str, Any]) -> list[str]:
    """Copy EMR's state, reason and times into a cluster or run record; return what changed.

    The master node's address is kept when EMR does not report one (ListClusters never does).

    :param record: a :class:`Cluster` or a :class:`SparkJobRun`.
    :param description: a normalized EMR cluster (``state``, ``state_change_reason_code``...).
    """
    status_field = "most_recent_status" if isinstance(record, Cluster) else "status"
    values: dict[str, Any] = {
        status_field: description.get("state") or getattr(record, status_field),
        "status_reason_code": description.get("state_change_reason_code") or "",
        "status_reason_message": description.get("state_change_reason_message") or "",
        "started_at": emr_time(description.get("creation_datetime")) or record.started_at,
        "ready_at": emr_time(description.get("ready_datetime")) or record.ready_at,
        "finished_at": emr_time(description.get("end_datetime")) or record.finished_at,
    }
    if isinstance(record, Cluster) and description.get("public_dns"):
        values["master_address"] = description["public_dns"]
    return _assign(record, values)


def move_ownership(session: Session, obj: Any, username: str) -> bool:
    """Make ``username`` the creator of ``obj``, moving the creator's permissions to them.

    Return whether the owner changed.

    :param session: a records session.
    :param obj: a flushed :class:`Cluster` or :class:`SparkJob`.
    :param username: the new owner.
    """
    from atmo_provider.records.permissions import grant, revoke

    previous = obj.created_by
    if previous == username:
        return False

    for perm in obj.creator_permissions:
        if previous:
            revoke(session, perm, obj, user=previous)
        grant(session, perm, obj, user=username)
    obj.created_by = username
    log.info("%r now belongs to %s instead of %s", obj, username, previous or "nobody")
    return True


def record_launched_cluster(
    session: Session,
    request: Mapping[str, Any],
    jobflow_id: str,
    *,
    task_instance_key: str | None = None,
    now: datetime | None = None,
    settings: AtmoSettings | None = None,
) -> Cluster:
    """Record the cluster a launch created, or bring the record of an earlier try up to date.

    A new record is ``STARTING`` and expires ``lifetime`` hours from ``now``; its owner gets
    view, change and delete on it. A record found by ``jobflow_id`` (a retry, or one the sync
    adopted) gets the request's owner, identifier and size; its status and expiry stay.

    :param session: a records session.
    :param request: the checked launch request (``LaunchRequest.as_dict()``).
    :param jobflow_id: the job flow id EMR gave the cluster.
    :param task_instance_key: the ``atmo:task-instance`` tag of the launch.
    :param now: the moment of the launch; the current time when not given.
    :param settings: passed on to the record's ``save``.
    """
    now = now or utcnow()
    values = {
        "identifier": request["identifier"],
        "created_by_email": request.get("owner_email") or "",
        "size": int(request["size"]),
        "lifetime": int(request["lifetime"]),
        "emr_release": request["emr_release"],
        "ssh_key_fingerprint": ssh_key_fingerprint(request.get("ssh_public_key") or ""),
    }
    cluster = session.scalars(select(Cluster).where(Cluster.jobflow_id == jobflow_id)).first()
    if cluster is not None:
        changed = _assign(cluster, values)
        if task_instance_key and not cluster.task_instance_key:
            cluster.task_instance_key = task_instance_key
        move_ownership(session, cluster, request["owner"])
        session.flush()
        log.info("Cluster %s was recorded already as %r; updated %s", jobflow_id, cluster, changed)
        return cluster

    cluster = Cluster(
        created_by=request["owner"],
        jobflow_id=jobflow_id,
        task_instance_key=task_instance_key,
        most_recent_status=STATUS_STARTING,
        created_at=now,
        modified_at=now,
        expires_at=now + timedelta(hours=int(request["lifetime"])),
        **values,
    )
    cluster.save(session, settings=settings)
    log.info(
        "Recorded cluster %s (%s) of %s, expiring at %s",
        jobflow_id,
        cluster.identifier,
        cluster.created_by,
        cluster.expires_at.isoformat(),
    )
    return cluster


def record_cluster_description(session: Session, description: Mapping[str, Any]) -> Cluster | None:
    """Copy a DescribeCluster answer into the record of that cluster; None without a record.

    :param session: a records session.
    :param description: a normalized EMR cluster with ``jobflow_id``.
    """
    jobflow_id = description.get("jobflow_id")
    cluster = session.scalars(select(Cluster).where(Cluster.jobflow_id == jobflow_id)).first()
    if cluster is None:
        log.warning("Cluster %s has no record; nothing updated", jobflow_id)
        return None

    changed = apply_description(cluster, description)
    session.flush()
    log.info(
        "Cluster %s (%s) is %s; updated %s",
        jobflow_id,
        cluster.identifier,
        cluster.most_recent_status,
        changed or "nothing",
    )
    return cluster


def _job_values(spec: JobSpec, settings: AtmoSettings) -> dict[str, Any]:
    return {
        "created_by_email": spec.owner_email,
        "description": spec.description,
        "spec_file": spec.source_file,
        "notebook_path": spec.notebook_path,
        "result_visibility": spec.result_visibility,
        "size": spec.size,
        "interval_in_hours": spec.interval_hours,
        "job_timeout": spec.timeout,
        "emr_release": spec.emr_release or settings.default_emr_release,
        "start_date": spec.start_date,
        "end_date": spec.end_date,
        "is_enabled": True,
        "deleted_at": None,
    }


def upsert_spark_job(session: Session, spec: JobSpec, settings: AtmoSettings) -> SparkJob:
    """Create or update the Spark job record of ``spec``; a retired job comes back.

    A new job's owner gets view, change and delete on it, the maintainers role view. When the
    spec names another owner, the owner's permissions move to them.

    :param session: a records session.
    :param spec: a valid job spec.
    :param settings: gives the default EMR release and the maintainers role.
    """
    values = _job_values(spec, settings)
    query = select(SparkJob).where(SparkJob.identifier == spec.identifier)
    job = session.scalars(query).one_or_none()
    if job is None:
        job = SparkJob(identifier=spec.identifier, created_by=spec.owner, **values)
        try:
            with session.begin_nested():
                job.save(session, settings=settings)
        except IntegrityError:
            # Another writer recorded the same job in the meantime; update theirs.
            job = session.scalars(query).one()
        else:
            log.info(
                "Recorded Spark job %s of %s from %s",
                job.identifier,
                job.created_by,
                spec.source_file,
            )
            return job

    changed = _assign(job, values)
    if move_ownership(session, job, spec.owner):
        changed.append("created_by")
    session.flush()
    if changed:
        log.info("Updated Spark job %s from %s: %s", job.identifier, spec.source_file, changed)
    return job


def start_job_run(
    session: Session, job: SparkJob, dag_run_id: str, scheduled_at: datetime | None
) -> SparkJobRun:
    """Record a run of ``job`` for a DAG run, ``PENDING``; a retry gets the same record.

    A DAG run cleared after its run ended gets a new record: it launches a new cluster.

    :param session: a records session.
    :param job: the Spark job.
    :param dag_run_id: the Airflow DAG run's id.
    :param scheduled_at: the DAG run's logical date, or when it was due.
    """
    run = session.scalars(
        select(SparkJobRun)
        .where(SparkJobRun.spark_job_id == job.id, SparkJobRun.dag_run_id == dag_run_id)
        .order_by(SparkJobRun.id.desc())
        .limit(1)
    ).first()
    if run is not None and run.status not in FINAL_STATUSES:
        log.info(
            "Run %s of Spark job %s was recorded already (%s)", run.id, job.identifier, run.status
        )
        return run

    run = SparkJobRun(
        spark_job=job,
        dag_run_id=dag_run_id,
        status=RUN_PENDING,
        scheduled_at=scheduled_at,
        size=job.size,
        emr_release=job.emr_release,
    )
    session.add(run)
    session.flush()
    log.info("Recorded run %s of Spark job %s for DAG run %s", run.id, job.identifier, dag_run_id)
    return run


def finish_job_run(
    session: Session,
    run: SparkJobRun,
    description: Mapping[str, Any] | None,
    *,
    step_id: str | None = None,
    succeeded: bool = False,
    no_cluster_reason: str = "",
) -> list[str]:
    """Copy how a run's cluster ended into the run; return what changed.

    Without a cluster the run counts as finished: ``TERMINATED`` when the job's task
    succeeded all the same (an execution backend without EMR), ``TERMINATED_WITH_ERRORS`` with
    ``no_cluster_reason`` as its message when it failed before a cluster was launched.

    :param session: a records session.
    :param run: the run.
    :param description: the run's cluster from DescribeCluster, or None.
    :param step_id: the notebook step's id, when known.
    :param succeeded: the job's task succeeded.
    :param no_cluster_reason: why no cluster was launched.
    """
    if description is None:
        changed = _assign(
            run,
            {
                "status": STATUS_TERMINATED if succeeded else STATUS_TERMINATED_WITH_ERRORS,
                "status_reason_code": "",
                "status_reason_message": ""
                if succeeded
                else no_cluster_reason or "No cluster was launched",
                "finished_at": run.finished_at or utcnow(),
            },
        )
    else:
        changed = _assign(run, {"jobflow_id": description["jobflow_id"]})
        changed += apply_description(run, description)
        if description.get("release_label"):
            release = description["release_label"].removeprefix("emr-")
            changed += _assign(run, {"emr_release": release})
    if step_id:
        changed += _assign(run, {"step_id": step_id})
    session.flush()
    log.info(
        "Run %s of Spark job %s is %s; updated %s",
        run.id,
        run.spark_job.identifier,
        run.status,
        changed or "nothing",
    )
    return changed


def record_step_outcome(
    run: SparkJobRun, step_state: str | None, step_message: str | None
) -> bool:
    """Mark a run failed when its notebook step did not complete on a cluster that ended well.

    EMR ends a job cluster ``TERMINATED`` after its only step, whether that step completed,
    failed or was cancelled; the run's outcome is the step's. Return whether the run changed.

    :param run: the run, already updated from its cluster.
    :param step_state: the notebook step's final state, ``None`` when it had no step.
    :param step_message: EMR's reason or message for the step's end.
    """
    if run.is_failed or step_state in (None, "COMPLETED"):
        return False

    run.status = STATUS_TERMINATED_WITH_ERRORS
    run.status_reason_code = "STEP_FAILURE"
    run.status_reason_message = f"The notebook step ended {step_state}" + (
        f": {step_message}" if step_message else ""
    )
    log.info(
        "Run %s of Spark job %s failed: %s",
        run.id,
        run.spark_job.identifier,
        run.status_reason_message,
    )
    return True
