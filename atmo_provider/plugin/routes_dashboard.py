"""The dashboard: the user's clusters and Spark jobs, filtered and paged (GET and HEAD only)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from atmo_provider.plugin.dags import job_dag_id
from atmo_provider.plugin.headers import newest
from atmo_provider.plugin.queries import (
    CLUSTER_FILTERS,
    JOB_FILTERS,
    cluster_filter,
    cluster_page,
    job_filter,
    job_page,
    page_number,
)
from atmo_provider.plugin.routing import (
    CsrfDep,
    DagsDep,
    EngineDep,
    SettingsDep,
    UserDep,
    page,
)
from atmo_provider.records.db import session_scope

__all__ = ["router"]

router = APIRouter()


@router.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse, name="dashboard")
def dashboard(
    request: Request,
    user: UserDep,
    settings: SettingsDep,
    engine: EngineDep,
    dags: DagsDep,
    csrf: CsrfDep,
    clusters: str | None = None,
    jobs: str | None = None,
    clusters_page: str | None = None,
    jobs_page: str | None = None,
) -> Response:
    """Show the user's clusters and Spark jobs, a page of each.

    ``?clusters=`` is active (default), terminated, failed or all; ``?jobs=`` is mine (default)
    or all, which only maintainers get (anyone else gets mine). ``clusters_page`` and
    ``jobs_page`` choose the pages, 50 rows each.
    """
    which_clusters = cluster_filter(clusters)
    which_jobs = job_filter(jobs, user)

    with session_scope(engine) as session:
        cluster_rows = cluster_page(session, user, which_clusters, page_number(clusters_page))
        job_rows = job_page(session, user, which_jobs, page_number(jobs_page))

    dag_infos = dags.infos(job_dag_id(row.job.identifier) for row in job_rows.items)
    modified = newest(
        [cluster.modified_at for cluster in cluster_rows.items]
        + [row.job.modified_at for row in job_rows.items]
        + [row.last_run.modified_at for row in job_rows.items if row.last_run is not None]
    )
    context = {
        "cluster_filters": CLUSTER_FILTERS,
        "cluster_filter": which_clusters,
        "clusters": cluster_rows,
        "job_filters": JOB_FILTERS if user.is_maintainer else (),
        "job_filter": which_jobs,
        "jobs": job_rows,
        "show_owner": which_jobs == "all",
        "dag_infos": dag_infos,
        "job_dag_id": job_dag_id,
        "modified_date": modified,
    }
    return page(request, "dashboard.html", context, settings=settings, user=user, csrf=csrf)
