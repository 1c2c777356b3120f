"""Spark job records kept in step with their spec files, and job runs with EMR.

* :func:`reconcile_job_specs`: every valid spec has a job record (so that a job shows before
  its first run), and a job whose spec file is gone is retired: ``deleted_at`` is set and
  ``is_enabled`` cleared. A spec that is only invalid for the moment keeps its job.
* :func:`sync_job_runs`: unfinished runs take state, reason and times from the sync's
  listing; a run whose DAG crashed before it recorded its cluster finds it by the
  ``atmo:task-instance`` tag; a run that never got a cluster fails after a while.
* :func:`alert_failed_run` (called by a job's DAG) and :func:`alert_failed_runs` (by the
  sync, for the runs that no DAG alerted): a failed run alerts its owner once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from atmo_provider.provisioners import TASK_INSTANCE_TAG
from atmo_provider.records.models import STATUS_TERMINATED_WITH_ERRORS, SparkJob, SparkJobRun
from atmo_provider.records.writes import (
    RUN_PENDING,
    apply_description,
    finish_job_run,
    upsert_spark_job,
)
from atmo_provider.sync.clusters import UNFINISHED_RUN_STATUSES, by_jobflow_id

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from atmo_provider.jobs.spec import JobSpec
    from atmo_provider.notify import Sender
    from atmo_provider.provisioners import SparkJobProvisioner
    from atmo_provider.settings import AtmoSettings

__all__ = [
    "LAUNCH_DEADLINE_MARGIN",
    "alert_failed_run",
    "alert_failed_runs",
    "reconcile_job_specs",
    "sync_job_runs",
]

log = logging.getLogger(__name__)

#: How long after a run is recorded, on top of the job's timeout, a run without a cluster is
#: given up as never launched.
LAUNCH_DEADLINE_MARGIN = timedelta(hours=2)

#: How much earlier than its run's record a run's cluster may seem to be created (clocks).
CLOCK_SKEW = timedelta(minutes=15)


def reconcile_job_specs(
    session: Session,
    specs: Iterable[JobSpec],
    spec_files: Iterable[str],
    now: datetime,
    settings: AtmoSettings,
) -> dict[str, list[str]]:
    """Record every valid spec and retire the jobs whose spec file is gone.

    A job is retired when no valid spec has its identifier and its spec file's name is not
    among ``spec_files`` (so an invalid spec keeps its job until it is fixed or removed). A job
    that never came from a spec file (no ``spec_file`` recorded) is not the folder's to retire.
    Return the identifiers ``recorded`` and ``retired``.

    :param session: a records session.
    :param specs: the valid specs of the jobs folder.
    :param spec_files: the names of every spec file of that folder, valid or not.
    :param now: the current time, the retired jobs' ``deleted_at``.
    :param settings: gives the default EMR release and the maintainers role.
    """
    specs = list(specs)
    present = set(spec_files)
    identifiers = {spec.identifier for spec in specs}
    recorded = [upsert_spark_job(session, spec, settings).identifier for spec in specs]

    retired = []
    live = session.scalars(select(SparkJob).where(SparkJob.deleted_at.is_(None))).all()
    for job in live:
        if not job.spec_file or job.identifier in identifiers:
            continue
        if Path(job.spec_file).name in present:
            continue
        job.deleted_at = now
        job.is_enabled = False
        retired.append(job.identifier)
        log.warning(
            "Spark job %s is retired: its spec file %s is gone",
            job.identifier,
            job.spec_file or "(unknown)",
        )
    session.commit()
    return {"recorded": recorded, "retired": retired}


def _find_launch(
    run: SparkJobRun,
    provisioner: SparkJobProvisioner,
    listing: list[dict[str, Any]],
    claimed: set[str],
) -> dict[str, Any] | None:
    """Describe the listed clusters named like ``run``'s job; return the newest of its run."""
    job = run.spark_job
    name = provisioner.cluster_name(job.created_by, job.identifier)
    tag_prefix = f"atmo_job_{job.identifier}/{run.dag_run_id}/"
    not_before = run.created_at - CLOCK_SKEW
    for cluster in listing:  # newest first
        if (
            cluster.get("name") != name
            or cluster["jobflow_id"] in claimed
            or (cluster.get("creation_datetime") or not_before) < not_before
        ):
            continue
        description = provisioner.describe(cluster["jobflow_id"])
        if (description.get("tags") or {}).get(TASK_INSTANCE_TAG, "").startswith(tag_prefix):
            return description
    return None


def _update_run(run: SparkJobRun, description: dict[str, Any] | None) -> bool:
    if description is None:
        return False
    return bool(apply_description(run, description))


def sync_job_runs(
    session: Session,
    provisioner: SparkJobProvisioner,
    listing: list[dict[str, Any]],
    now: datetime,
) -> dict[str, int]:
    """Bring the unfinished runs up to date from ``listing``; return counts of what changed.

    Counts: ``updated`` (state from the listing), ``found`` (cluster found by its tag),
    ``never_launched`` (given up without a cluster). The session is committed before the
    DescribeCluster calls and at the end.

    :param session: a records session.
    :param provisioner: the Spark job provisioner of the AWS connection.
    :param listing: the sync's ListClusters answer.
    :param now: the current time.
    """
    listed = by_jobflow_id(listing)
    # Jobs are loaded with their runs: a lazy load later would open a transaction (on SQLite,
    # take the write lock) during the DescribeCluster calls.
    runs = session.scalars(
        select(SparkJobRun)
        .options(selectinload(SparkJobRun.spark_job))
        .where(SparkJobRun.status.in_(sorted(UNFINISHED_RUN_STATUSES)))
        .order_by(SparkJobRun.id)
    ).all()
    counts = {"updated": 0, "found": 0, "never_launched": 0}

    for run in runs:
        if run.jobflow_id and _update_run(run, listed.get(run.jobflow_id)):
            counts["updated"] += 1
    session.commit()

    claimed = set(
        session.scalars(
            select(SparkJobRun.jobflow_id).where(SparkJobRun.jobflow_id.in_(list(listed)))
        )
    )
    session.commit()
    for run in [run for run in runs if not run.jobflow_id and run.status == RUN_PENDING]:
        description = _find_launch(run, provisioner, listing, claimed)
        deadline = run.created_at + timedelta(hours=run.spark_job.job_timeout)
        if description is not None:
            claimed.add(description["jobflow_id"])
            finish_job_run(session, run, description)
            counts["found"] += 1
        elif deadline + LAUNCH_DEADLINE_MARGIN <= now:
            finish_job_run(
                session,
                run,
                None,
                no_cluster_reason=f"No cluster was launched for DAG run {run.dag_run_id}; "
                "see the task logs of that run",
            )
            counts["never_launched"] += 1
        session.commit()
    return counts


def alert_failed_run(
    session: Session, run: SparkJobRun, settings: AtmoSettings, sender: Sender | None = None
) -> bool:
    """Mail the owner that ``run`` failed, once; return whether this call sent the alert.

    The run's ``alerted`` flag is set and committed before the mail goes, so that two writers
    (the job's DAG and the sync) never both send it; when sending raises, the flag is cleared
    again and the error raised, so that a later try sends it. Commits the session.

    :param session: a records session; its transaction is committed.
    :param run: the failed run.
    :param settings: gives the site's URL for the links.
    :param sender: delivers the message; :func:`atmo_provider.notify.send_message` by default.
    """
    from atmo_provider.notify import run_failure_alert, send_message

    # Everything the message needs is read before the claim's commit, so that no lazy load
    # opens a transaction (and, on SQLite, takes the write lock) while the mail goes.
    job = run.spark_job
    message = run_failure_alert(job, run, settings)
    claimed = session.execute(
        update(SparkJobRun)
        .where(SparkJobRun.id == run.id, SparkJobRun.alerted.is_(False))
        .values(alerted=True)
    ).rowcount
    session.commit()
    if not claimed:
        log.info("Run %s of Spark job %s was alerted already", run.id, job.identifier)
        return False

    try:
        (sender or send_message)(message)
    except Exception:
        session.execute(update(SparkJobRun).where(SparkJobRun.id == run.id).values(alerted=False))
        session.commit()
        raise
    log.info(
        "Alerted %s that run %s of Spark job %s failed",
        job.created_by,
        run.id,
        job.identifier,
    )
    return True


def alert_failed_runs(
    session: Session, settings: AtmoSettings, sender: Sender | None = None
) -> tuple[list[int], list[BaseException]]:
    """Alert the owners of failed runs nobody alerted yet, once each.

    Return the ids of the runs alerted now and the errors of the alerts that could not be
    sent (those are tried again at the next sync).

    :param session: a records session; committed after each alert.
    :param settings: gives the site's URL.
    :param sender: delivers the messages; :func:`atmo_provider.notify.send_message` by default.
    """
    failed = session.scalars(
        select(SparkJobRun)
        .options(selectinload(SparkJobRun.spark_job))
        .where(
            SparkJobRun.status == STATUS_TERMINATED_WITH_ERRORS,
            SparkJobRun.alerted.is_(False),
        )
    ).all()
    session.commit()

    alerted, errors = [], []
    for run in failed:
        try:
            if alert_failed_run(session, run, settings, sender):
                alerted.append(run.id)
        except Exception as exc:
            log.exception("Could not alert the owner of failed run %s", run.id)
            errors.append(exc)
    return alerted, errors
