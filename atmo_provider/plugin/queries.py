"""The dashboard's queries: one page of clusters and one page of Spark jobs a user may see.

Each list is one query: the permission check is a subquery (:func:`viewable_ids`), the latest
run of every job an outer join on a correlated subquery, and a page is fetched with one row
more than it shows to learn whether another page follows, so no count query is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from atmo_provider.plugin.auth import CurrentUser
from atmo_provider.records.models import (
    ACTIVE_STATUSES,
    FAILED_STATUSES,
    FINAL_STATUSES,
    Cluster,
    SparkJob,
    SparkJobRun,
)
from atmo_provider.records.permissions import viewable_ids

__all__ = [
    "CLUSTER_FILTERS",
    "DEFAULT_CLUSTER_FILTER",
    "DEFAULT_JOB_FILTER",
    "JOB_FILTERS",
    "PER_PAGE",
    "JobRow",
    "Page",
    "cluster_filter",
    "cluster_page",
    "job_filter",
    "job_page",
    "page_number",
]

#: Allowed cluster filters.
CLUSTER_FILTERS = ("active", "terminated", "failed", "all")
#: The cluster filter when none or an unknown one is asked for.
DEFAULT_CLUSTER_FILTER = "active"
#: Allowed Spark job filters; ``all`` is for maintainers only.
JOB_FILTERS = ("mine", "all")
#: The Spark job filter when none, an unknown one or a forbidden one is asked for.
DEFAULT_JOB_FILTER = "mine"
#: Rows per page of each list.
PER_PAGE = 50

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list.

    :param items: the rows of this page.
    :param number: the page number, from 1.
    :param has_next: another page follows.
    """

    items: Sequence[T]
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        """A page comes before this one."""
        return self.number > 1


@dataclass(frozen=True)
class JobRow:
    """A Spark job and its latest run, if any.

    :param job: the Spark job.
    :param last_run: its latest run, or ``None`` before the first one.
    """

    job: SparkJob
    last_run: SparkJobRun | None


def cluster_filter(value: str | None) -> str:
    """Return the cluster filter to apply for the query parameter ``value``.

    :param value: what the request asked for.
    """
    return value if value in CLUSTER_FILTERS else DEFAULT_CLUSTER_FILTER


def job_filter(value: str | None, user: CurrentUser) -> str:
    """Return the Spark job filter to apply; ``all`` falls back to ``mine`` for non-maintainers.

    :param value: what the request asked for.
    :param user: the logged-in user.
    """
    if value == "all" and user.is_maintainer:
        return "all"
    return DEFAULT_JOB_FILTER


def page_number(value: str | None) -> int:
    """Return the page number of the query parameter ``value``: 1 unless a positive integer.

    :param value: what the request asked for.
    """
    try:
        number = int(value or 1)
    except ValueError:
        return 1
    return min(max(number, 1), 1_000_000)


def _page(rows: Sequence[T], number: int, per_page: int) -> Page[T]:
    return Page(items=list(rows[:per_page]), number=number, has_next=len(rows) > per_page)


def cluster_page(
    session: Session, user: CurrentUser, which: str, number: int = 1, per_page: int = PER_PAGE
) -> Page[Cluster]:
    """Return a page of the clusters ``user`` may view by a permission of their own.

    Like ATMO's dashboard, role permissions do not count here: it lists one's own clusters.

    :param session: a records session.
    :param user: the logged-in user.
    :param which: one of :data:`CLUSTER_FILTERS`.
    :param number: the page number, from 1.
    :param per_page: rows per page.
    """
    query = select(Cluster).where(Cluster.id.in_(viewable_ids(user.username, [], Cluster)))
    if which == "active":
        query = query.where(Cluster.most_recent_status.in_(sorted(ACTIVE_STATUSES)))
    elif which == "terminated":
        query = query.where(Cluster.most_recent_status.in_(sorted(FINAL_STATUSES)))
    elif which == "failed":
        query = query.where(Cluster.most_recent_status.in_(sorted(FAILED_STATUSES)))

    query = (
        query.order_by(Cluster.created_at.desc(), Cluster.id.desc())
        .offset((number - 1) * per_page)
        .limit(per_page + 1)
    )
    return _page(session.scalars(query).all(), number, per_page)


def job_page(
    session: Session, user: CurrentUser, which: str, number: int = 1, per_page: int = PER_PAGE
) -> Page[JobRow]:
    """Return a page of Spark jobs with their latest runs, newest start date first.

    ``mine`` lists the jobs ``user`` may view by a permission of their own; ``all`` also counts
    the permissions of their roles (every job for the maintainers role).

    :param session: a records session.
    :param user: the logged-in user.
    :param which: ``mine`` or ``all``; give what :func:`job_filter` returned.
    :param number: the page number, from 1.
    :param per_page: rows per page.
    """
    roles = sorted(user.roles) if which == "all" else []
    latest_run_id = (
        select(func.max(SparkJobRun.id))
        .where(SparkJobRun.spark_job_id == SparkJob.id)
        .correlate(SparkJob)
        .scalar_subquery()
    )
    query = (
        select(SparkJob, SparkJobRun)
        .outerjoin(SparkJobRun, SparkJobRun.id == latest_run_id)
        .where(
            SparkJob.id.in_(viewable_ids(user.username, roles, SparkJob)),
            SparkJob.deleted_at.is_(None),
        )
        .order_by(SparkJob.start_date.desc(), SparkJob.id.desc())
        .offset((number - 1) * per_page)
        .limit(per_page + 1)
    )
    rows = [JobRow(job=job, last_run=run) for job, run in session.execute(query).all()]
    return _page(rows, number, per_page)
