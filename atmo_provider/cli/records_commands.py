"""``airflow atmo clusters|jobs ...`` on the records: list, extend, terminate, run now.

Without ``--user`` the operator acts with no permission check. With ``--user U`` a command
applies the rules of the ATMO tab for ``U``: view to list or run a job (``U``'s Airflow roles
count, so the Spark job maintainers may run any job), change to extend a cluster, delete to
terminate it, the user's own permissions only to list clusters; a missing object and a
forbidden one get the same "not found" answer. Roles are read from Airflow's database when the
FAB auth manager is in use (the CLI may use Airflow's database; tasks may not).
"""

from __future__ import annotations

import argparse
import datetime
import getpass
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from airflow.utils.cli import suppress_logs_and_warning
from airflow.utils.providers_configuration_loader import providers_configuration_loaded

from atmo_provider.cli.commands import _fail, _parse_created_after
from atmo_provider.settings import AtmoSettings, get_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from atmo_provider.records.models import Cluster, SparkJob

__all__ = [
    "CLUSTER_STATES",
    "clusters_extend",
    "clusters_list",
    "clusters_terminate",
    "jobs_list",
    "jobs_run",
    "user_roles",
]

log = logging.getLogger(__name__)

#: The ``--state`` filters of ``clusters list``, as on the dashboard.
CLUSTER_STATES = ("active", "terminated", "failed", "all")


@contextmanager
def _records(args: argparse.Namespace, settings: AtmoSettings) -> Iterator[Session]:
    import dataclasses

    from atmo_provider.errors import AtmoConfigurationError
    from atmo_provider.records.db import session_scope
    from atmo_provider.records.writes import records_engine

    conn_id = getattr(args, "conn_id", None)
    if conn_id:
        settings = dataclasses.replace(settings, records_conn_id=conn_id)
    try:
        engine = records_engine(settings)
    except AtmoConfigurationError as exc:
        _fail(f"Cannot use the ATMO records: {exc}")
    with session_scope(engine) as session:
        yield session


def user_roles(username: str) -> frozenset[str]:
    """Return the names of the Airflow roles of ``username``; none outside the FAB auth manager.

    :param username: the Airflow username.
    """
    from airflow.configuration import conf

    if "fab" not in (conf.get("core", "auth_manager", fallback="") or "").lower():
        return frozenset()
    try:
        from airflow.providers.fab.auth_manager.models import User
        from airflow.utils.session import create_session
        from sqlalchemy import func, select

        with create_session() as session:
            user = session.scalars(
                select(User).where(func.lower(User.username) == username.lower())
            ).first()
            return frozenset(role.name for role in user.roles) if user else frozenset()
    except Exception:
        log.exception(
            "Could not read the Airflow roles of %s; only their own permissions count", username
        )
        return frozenset()


def _iso(moment: datetime.datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def _print_rows(rows: list[dict[str, Any]], output: str) -> None:
    if output == "json":
        print(json.dumps(rows, indent=2))
        return

    from airflow.cli.simple_table import AirflowConsole

    AirflowConsole().print_as(data=rows, output="table")


def _cluster_row(cluster: Cluster) -> dict[str, Any]:
    return {
        "id": cluster.id,
        "identifier": cluster.identifier,
        "owner": cluster.created_by,
        "jobflow_id": cluster.jobflow_id,
        "status": cluster.most_recent_status,
        "size": cluster.size,
        "lifetime": cluster.lifetime,
        "extensions": cluster.lifetime_extension_count,
        "created": _iso(cluster.created_at),
        "expires": _iso(cluster.expires_at),
        "master": cluster.master_address,
        "reason": cluster.status_reason_message,
    }


@suppress_logs_and_warning
@providers_configuration_loaded
def clusters_list(args: argparse.Namespace) -> None:
    """List the cluster records, newest first; ``--from-emr`` lists EMR's clusters instead."""
    if getattr(args, "from_emr", False):
        from atmo_provider.cli.commands import clusters_list as list_from_emr

        return list_from_emr(args)

    from sqlalchemy import select

    from atmo_provider.records.models import (
        ACTIVE_STATUSES,
        FAILED_STATUSES,
        FINAL_STATUSES,
        Cluster,
    )
    from atmo_provider.records.permissions import viewable_ids

    statuses = {
        "active": ACTIVE_STATUSES,
        "terminated": FINAL_STATUSES,
        "failed": FAILED_STATUSES,
    }
    query = select(Cluster).order_by(Cluster.created_at.desc(), Cluster.id.desc())
    if args.state in statuses:
        query = query.where(Cluster.most_recent_status.in_(sorted(statuses[args.state])))
    if args.user:
        # Like the dashboard: one's own clusters, whatever the roles.
        query = query.where(Cluster.id.in_(viewable_ids(args.user, [], Cluster)))
    if args.created_after:
        query = query.where(Cluster.created_at >= _parse_created_after(args.created_after))

    with _records(args, get_settings()) as session:
        rows = [_cluster_row(cluster) for cluster in session.scalars(query)]
    _print_rows(rows, args.output)


def _find_cluster(session: Session, reference: str, perm: str, user: str | None) -> Cluster | None:
    from sqlalchemy import select

    from atmo_provider.records.models import Cluster
    from atmo_provider.records.permissions import get_object_or_none

    if reference.isascii() and reference.isdigit():
        if len(reference) > 18:
            return None
        lookup = {"id": int(reference)}
    else:
        lookup = {"jobflow_id": reference}
    if user:
        return get_object_or_none(session, Cluster, perm, user, user_roles(user), **lookup)
    return session.scalars(select(Cluster).filter_by(**lookup)).first()


def _not_found(kind: str, reference: str, user: str | None) -> None:
    who = f" that {user} may act on" if user else ""
    _fail(f"{kind} {reference} not found{who}")


def _extension_hours(raw: Any, settings: AtmoSettings) -> int:
    low, high = settings.min_cluster_lifetime, settings.max_cluster_lifetime
    allowed = f"a whole number of hours from {low} to {high}"
    try:
        hours = int(str(raw).strip())
    except ValueError:
        _fail(f"--hours must be {allowed}, got {raw!r}")
    if not low <= hours <= high:
        _fail(f"--hours must be {allowed}, got {hours}")
    return hours


@providers_configuration_loaded
def clusters_extend(args: argparse.Namespace) -> None:
    """Push an active cluster's expiry back by ``--hours``; a new expiry warning will go."""
    settings = get_settings()
    hours = _extension_hours(args.hours, settings)

    with _records(args, settings) as session:
        cluster = _find_cluster(session, args.cluster, "change", args.user)
        if cluster is None:
            _not_found("Cluster", args.cluster, args.user)
        if not cluster.is_active:
            _fail(
                f"Only active clusters can be extended; cluster {args.cluster} is "
                f"{cluster.most_recent_status or 'not started'}"
            )
        cluster.extend(hours)
        session.flush()

    log.info(
        "Cluster %s (%s) extended by %d hours by %s",
        cluster.jobflow_id,
        cluster.identifier,
        hours,
        args.user or getpass.getuser(),
    )
    print(
        f"Cluster {cluster.id} ({cluster.identifier}, {cluster.jobflow_id}) now expires at "
        f"{_iso(cluster.expires_at)} after {cluster.lifetime_extension_count} extension(s)"
    )


@providers_configuration_loaded
def clusters_terminate(args: argparse.Namespace) -> None:
    """Terminate an active cluster by record id or job flow id and mark it TERMINATING.

    A job flow id without a record is terminated on EMR if it is a cluster of this
    environment (not with ``--user``: permissions live on records).
    """
    from atmo_provider.records.models import STATUS_TERMINATING

    settings = get_settings()
    reference = args.job_flow_id
    with _records(args, settings) as session:
        cluster = _find_cluster(session, reference, "delete", args.user)
        if cluster is None and (args.user or reference.isdigit()):
            _not_found("Cluster", reference, args.user)
        if cluster is not None and not cluster.is_active:
            _fail(
                f"Only active clusters can be terminated; cluster {reference} is "
                f"{cluster.most_recent_status or 'not started'}"
            )
        record_id = cluster.id if cluster is not None else None
        jobflow_id = cluster.jobflow_id if cluster is not None else reference

    if record_id is None:
        from atmo_provider.cli.commands import clusters_terminate as terminate_on_emr

        return terminate_on_emr(argparse.Namespace(job_flow_id=reference))
    if not jobflow_id:
        _fail(f"Cluster {reference} has no EMR cluster yet; try again once it is starting")

    from atmo_provider.provisioners import ClusterProvisioner

    try:
        ClusterProvisioner(settings).stop(jobflow_id)
    except Exception as exc:
        _fail(f"EMR did not accept the termination of {jobflow_id}: {exc}")

    from atmo_provider.records.models import Cluster

    with _records(args, settings) as session:
        cluster = session.get(Cluster, record_id)
        if cluster is not None and cluster.is_active:
            cluster.most_recent_status = STATUS_TERMINATING
    print(f"Cluster {record_id} ({jobflow_id}) is terminating")


def _job_rows(session: Session, jobs: list[SparkJob]) -> list[dict[str, Any]]:
    from sqlalchemy import func, select

    from atmo_provider.records.models import SparkJobRun

    latest = select(func.max(SparkJobRun.id)).group_by(SparkJobRun.spark_job_id)
    runs = {
        run.spark_job_id: run
        for run in session.scalars(select(SparkJobRun).where(SparkJobRun.id.in_(latest)))
    }
    rows = []
    for job in jobs:
        run = runs.get(job.id)
        rows.append(
            {
                "identifier": job.identifier,
                "owner": job.created_by,
                "interval_hours": job.interval_in_hours,
                "size": job.size,
                "timeout_hours": job.job_timeout,
                "visibility": job.result_visibility,
                "start": _iso(job.start_date),
                "end": _iso(job.end_date),
                "deleted": _iso(job.deleted_at),
                "last_run": run.status if run else None,
                "last_run_scheduled": _iso(run.scheduled_at) if run else None,
            }
        )
    return rows


@suppress_logs_and_warning
@providers_configuration_loaded
def jobs_list(args: argparse.Namespace) -> None:
    """List the Spark job records with their latest run; retired jobs with ``--all``."""
    from sqlalchemy import select

    from atmo_provider.records.models import SparkJob
    from atmo_provider.records.permissions import viewable_ids

    query = select(SparkJob).order_by(SparkJob.start_date.desc(), SparkJob.id.desc())
    if not args.all:
        query = query.where(SparkJob.deleted_at.is_(None))
    if args.user:
        roles = user_roles(args.user)
        query = query.where(SparkJob.id.in_(viewable_ids(args.user, roles, SparkJob)))

    with _records(args, get_settings()) as session:
        rows = _job_rows(session, list(session.scalars(query)))
    _print_rows(rows, args.output)


def _run_refusal(session: Session, job: SparkJob) -> str:
    from sqlalchemy import select

    from atmo_provider.records.models import FINAL_STATUSES, SparkJobRun

    last = session.scalars(
        select(SparkJobRun)
        .where(SparkJobRun.spark_job_id == job.id)
        .order_by(SparkJobRun.id.desc())
        .limit(1)
    ).first()
    if last is not None and last.status not in FINAL_STATUSES:
        return (
            f"The last run of {job.identifier} has not finished ({last.status or 'not started'}); "
            "run it again once it has"
        )
    return ""


def _active_dag_runs(dag_id: str) -> int:
    from airflow.models import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from sqlalchemy import func, select

    with create_session() as session:
        return session.scalar(
            select(func.count(DagRun.id)).where(
                DagRun.dag_id == dag_id,
                DagRun.state.in_([DagRunState.QUEUED, DagRunState.RUNNING]),
            )
        )


@providers_configuration_loaded
def jobs_run(args: argparse.Namespace) -> None:
    """Start a run of a Spark job's DAG now, if its last run has finished."""
    from sqlalchemy import select

    from atmo_provider.records.models import SparkJob
    from atmo_provider.records.permissions import get_object_or_none

    identifier = args.identifier
    dag_id = f"atmo_job_{identifier}"
    with _records(args, get_settings()) as session:
        if args.user:
            job = get_object_or_none(
                session, SparkJob, "view", args.user, user_roles(args.user), identifier=identifier
            )
        else:
            job = session.scalars(select(SparkJob).filter_by(identifier=identifier)).first()
        if job is None or job.deleted_at is not None:
            _not_found("Spark job", identifier, args.user)
        refusal = _run_refusal(session, job)
    if refusal:
        _fail(refusal)
    if _active_dag_runs(dag_id):
        _fail(f"A run of {dag_id} is queued or running; run it again once it has finished")

    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.exceptions import DagNotFound
    from airflow.utils.types import DagRunTriggeredByType

    user = args.user or getpass.getuser()
    try:
        run = trigger_dag(
            dag_id, triggered_by=DagRunTriggeredByType.CLI, triggering_user_name=user
        )
    except DagNotFound:
        _fail(f"Airflow has no DAG {dag_id}; check the job's spec file and the DAG processor")
    log.info("User %s triggered DAG %s", user, dag_id)
    print(f"Triggered {run.run_id if run is not None else 'a run'} of {dag_id} for {user}")
