"""Spark job pages: detail, run now, pause, resume and delete.

The permission each needs: detail with runs and results and run now need view, pause and
resume need change, delete needs delete. A job that is missing and one the user may not act
on get the same 404. Actions are POSTs with a CSRF token and answer with a redirect. The job's
DAG is ``atmo_job_<identifier>``.

The detail page lists the result files of the newest runs (ListObjectsV2 through the
``[atmo] aws_conn_id`` connection); where S3 cannot be read it says "results unavailable" for
those runs and the page still renders.
"""

from __future__ import annotations

import logging
from datetime import timezone
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from atmo_provider.aws.s3 import console_url, parse_s3_uri
from atmo_provider.plugin.auth import CurrentUser
from atmo_provider.plugin.csrf import CSRF_FIELD
from atmo_provider.plugin.dags import AirflowDags, DagInfo, DagNotInAirflow, job_dag_id
from atmo_provider.plugin.headers import newest
from atmo_provider.plugin.routing import (
    CsrfDep,
    DagsDep,
    EngineDep,
    SettingsDep,
    UserDep,
    conflict,
    not_found,
    object_id,
    page,
    redirect_after_post,
)
from atmo_provider.plugin.templating import base_path
from atmo_provider.plugin.urls import action_url, route_path
from atmo_provider.records.db import session_scope
from atmo_provider.records.models import FINAL_STATUSES, SparkJob, SparkJobRun
from atmo_provider.records.permissions import get_object_or_none, has_permission
from atmo_provider.results import results_uri
from atmo_provider.settings import AtmoSettings

__all__ = [
    "RESULT_FILES_SHOWN",
    "RESULT_RUNS_LISTED",
    "RUNS_SHOWN",
    "list_result_files",
    "router",
    "run_now_refusal",
]

log = logging.getLogger(__name__)

router = APIRouter()

#: How many of the latest runs the detail page lists.
RUNS_SHOWN = 50
#: How many of the newest runs get their result files listed, and how many files each at most.
RESULT_RUNS_LISTED = 3
RESULT_FILES_SHOWN = 100

IdParam = Annotated[str, Path(alias="id")]
TokenField = Annotated[str, Form(alias=CSRF_FIELD)]


def _find_job(session: Session, user: CurrentUser, perm: str, raw_id: str) -> SparkJob:
    job = get_object_or_none(
        session, SparkJob, perm, user.username, user.roles, id=object_id(raw_id)
    )
    if job is None or job.deleted_at is not None:
        raise not_found()
    return job


def _latest_runs(session: Session, job: SparkJob, limit: int = RUNS_SHOWN) -> list[SparkJobRun]:
    query = (
        select(SparkJobRun)
        .where(SparkJobRun.spark_job_id == job.id)
        .order_by(SparkJobRun.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def run_now_refusal(last_run: SparkJobRun | None, dag: DagInfo | None, dag_id: str) -> str:
    """Return why "Run now" is not possible now, or ``""`` when it is.

    :param last_run: the job's latest run.
    :param dag: the job's DAG in Airflow, ``None`` when Airflow does not have it.
    :param dag_id: the DAG's id, for the message.
    """
    if dag is None:
        return f"Airflow has no DAG {dag_id}; check the job's spec file and the DAG processor."
    if last_run is not None and last_run.status not in FINAL_STATUSES:
        status = last_run.status or "not started"
        return f"The last run has not finished ({status}); run it again once it has."
    if dag.has_active_run:
        return f"A run of {dag_id} is queued or running; run it again once it has finished."
    return ""


def results_link(job: SparkJob, run: SparkJobRun, settings: AtmoSettings) -> dict[str, str]:
    """Return the S3 location of a run's results and its console page; empty before it ran.

    :param job: the Spark job.
    :param run: one of its runs.
    :param settings: gives the results buckets and the region.
    """
    when = run.scheduled_at or run.started_at
    if when is None:
        return {}
    bucket = settings.results_bucket(job.result_visibility)
    uri = results_uri(bucket, job.identifier, when.astimezone(timezone.utc).date())
    return {"uri": uri, "url": console_url(uri, settings.region_name)}


def list_result_files(
    s3: Any, uri: str, region_name: str | None, limit: int = RESULT_FILES_SHOWN
) -> dict[str, Any]:
    """Return the files under a run's results prefix: ``{"files": [...], "truncated": bool}``.

    Each file is ``{"name", "size", "url"}``: its key below the prefix, its size in bytes and
    its S3 console page. One ListObjectsV2 call; errors are the caller's to handle.

    :param s3: an S3 client.
    :param uri: the run's results folder, ``s3://bucket/<identifier>/<run date>/``.
    :param region_name: the region, for the console links.
    :param limit: at most this many files.
    """
    bucket, prefix = parse_s3_uri(uri)
    page = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=limit)
    files = [
        {
            "name": item["Key"][len(prefix) :],
            "size": item["Size"],
            "url": console_url(f"s3://{bucket}/{item['Key']}", region_name),
        }
        for item in page.get("Contents", [])
    ]
    return {"files": files, "truncated": bool(page.get("IsTruncated"))}


def _result_files(
    identifier: str, links: list[dict[str, str]], settings: AtmoSettings
) -> list[dict[str, Any] | None]:
    """List the result files of the runs whose links are given; ``None`` where S3 failed."""
    if not links:
        return []
    from atmo_provider.aws.clients import NO_RETRIES, s3_client

    # One try per call: a page waits for S3, so an unreachable S3 must fail fast.
    try:
        s3 = s3_client(settings.aws_conn_id, settings.region_name, total_max_attempts=NO_RETRIES)
    except Exception:
        log.warning("No S3 client for the results of Spark job %s", identifier, exc_info=True)
        return [None] * len(links)

    listings: list[dict[str, Any] | None] = []
    for link in links:
        try:
            listings.append(list_result_files(s3, link["uri"], settings.region_name))
        except Exception as exc:
            log.warning(
                "Listing the results %s of Spark job %s failed: %s", link["uri"], identifier, exc
            )
            listings.append(None)
    return listings


def emr_console_url(jobflow_id: str, region_name: str) -> str:
    """Return the EMR console page of the cluster ``jobflow_id``."""
    return (
        f"https://console.aws.amazon.com/emr/home?region={region_name}"
        f"#/clusterDetails/{jobflow_id}"
    )


def _action_urls(job: SparkJob, base: str) -> dict[str, str]:
    return {
        action: action_url(job, action, base) for action in ("run", "pause", "resume", "delete")
    }


@router.api_route(
    route_path("jobs-detail"),
    methods=["GET", "HEAD"],
    response_class=HTMLResponse,
    name="jobs-detail",
)
def job_detail(
    request: Request,
    job_id: IdParam,
    user: UserDep,
    settings: SettingsDep,
    engine: EngineDep,
    dags: DagsDep,
    csrf: CsrfDep,
) -> Response:
    """Show a Spark job the user may view, with its latest runs and where their results are."""
    with session_scope(engine) as session:
        job = _find_job(session, user, "view", job_id)
        runs = _latest_runs(session, job)
        can_change = has_permission(session, user.username, user.roles, "change", job)
        can_delete = has_permission(session, user.username, user.roles, "delete", job)

    dag_id = job_dag_id(job.identifier)
    dag = dags.info(dag_id)
    last_run = runs[0] if runs else None
    bucket = settings.results_bucket(job.result_visibility)
    items = [
        {
            "run": run,
            "results": results_link(job, run, settings),
            "emr_url": emr_console_url(run.jobflow_id, settings.region_name)
            if run.jobflow_id
            else "",
        }
        for run in runs
    ]
    listed = [item for item in items if item["results"]][:RESULT_RUNS_LISTED]
    files = _result_files(job.identifier, [item["results"] for item in listed], settings)
    for item, listing in zip(listed, files, strict=True):
        item["listed"] = True
        item["files"] = listing
    context: dict[str, Any] = {
        "job": job,
        "dag_id": dag_id,
        "dag": dag,
        "runs": items,
        "all_results_url": console_url(f"s3://{bucket}/{job.identifier}/", settings.region_name),
        "run_refusal": run_now_refusal(last_run, dag, dag_id),
        "can_change": can_change and dag is not None,
        "can_delete": can_delete,
        "urls": _action_urls(job, base_path(request)),
        "modified_date": newest([job.modified_at, last_run.modified_at if last_run else None]),
    }
    return page(request, "jobs/detail.html", context, settings=settings, user=user, csrf=csrf)


@router.post(route_path("jobs-run"), name="jobs-run")
def run_job(
    request: Request,
    job_id: IdParam,
    user: UserDep,
    engine: EngineDep,
    dags: DagsDep,
    csrf: CsrfDep,
    token: TokenField = "",
) -> Response:
    """Start a run of the job's DAG now, if its last run has finished."""
    csrf.check(request, token, user)

    with session_scope(engine) as session:
        job = _find_job(session, user, "view", job_id)
        runs = _latest_runs(session, job, limit=1)

    dag_id = job_dag_id(job.identifier)
    refusal = run_now_refusal(runs[0] if runs else None, dags.info(dag_id), dag_id)
    if refusal:
        raise conflict(refusal)
    try:
        dags.trigger(dag_id, user.username)
    except DagNotInAirflow:
        raise conflict(f"Airflow has no DAG {dag_id}; check the job's spec file.") from None

    return redirect_after_post(action_url(job, "detail", base_path(request)), "run-started")


def _set_paused(
    request: Request,
    job_id: str,
    user: CurrentUser,
    engine: Any,
    dags: AirflowDags,
    paused: bool,
) -> Response:
    with session_scope(engine) as session:
        job = _find_job(session, user, "change", job_id)

    dag_id = job_dag_id(job.identifier)
    try:
        dags.set_paused(dag_id, paused, user.username)
    except DagNotInAirflow:
        raise conflict(f"Airflow has no DAG {dag_id}; check the job's spec file.") from None

    with session_scope(engine) as session:
        record = session.get(SparkJob, job.id)
        if record is not None:
            record.is_enabled = not paused
            session.flush()

    log.info("User %s %s Spark job %s", user.username, "paused" if paused else "resumed", job_id)
    done = "paused" if paused else "resumed"
    return redirect_after_post(action_url(job, "detail", base_path(request)), done)


@router.post(route_path("jobs-pause"), name="jobs-pause")
def pause_job(
    request: Request,
    job_id: IdParam,
    user: UserDep,
    engine: EngineDep,
    dags: DagsDep,
    csrf: CsrfDep,
    token: TokenField = "",
) -> Response:
    """Pause the job's DAG: no scheduled run starts until it is resumed."""
    csrf.check(request, token, user)
    return _set_paused(request, job_id, user, engine, dags, paused=True)


@router.post(route_path("jobs-resume"), name="jobs-resume")
def resume_job(
    request: Request,
    job_id: IdParam,
    user: UserDep,
    engine: EngineDep,
    dags: DagsDep,
    csrf: CsrfDep,
    token: TokenField = "",
) -> Response:
    """Resume the job's DAG."""
    csrf.check(request, token, user)
    return _set_paused(request, job_id, user, engine, dags, paused=False)


@router.post(route_path("jobs-delete"), name="jobs-delete")
def delete_job(
    request: Request,
    job_id: IdParam,
    user: UserDep,
    engine: EngineDep,
    dags: DagsDep,
    csrf: CsrfDep,
    token: TokenField = "",
) -> Response:
    """Delete the job's record and permissions and pause its DAG; the spec file stays."""
    csrf.check(request, token, user)

    with session_scope(engine) as session:
        job = _find_job(session, user, "delete", job_id)
    identifier = job.identifier
    dag_id = job_dag_id(identifier)

    try:
        dags.set_paused(dag_id, True, user.username)
    except DagNotInAirflow:
        log.info("Spark job %s has no DAG %s to pause", identifier, dag_id)

    with session_scope(engine) as session:
        record = session.get(SparkJob, job.id)
        if record is not None:
            record.delete(session)

    # Limitation: the spec file stays, so the DAG comes back if it is resumed in Airflow;
    # removing the spec file from the jobs folder is how a job goes for good.
    log.info("User %s deleted Spark job %s and paused DAG %s", user.username, identifier, dag_id)
    return redirect_after_post(f"{base_path(request)}/", "deleted")
