"""Cluster records kept in step with EMR: one listing per sync, matched by job flow id.

The listing starts at the day the oldest active cluster or unfinished run was recorded, so
one paginated ListClusters covers every record that can still change. With nothing active it
covers the last :data:`ADOPTION_WINDOW` of live clusters only, for
:mod:`atmo_provider.sync.adoption`. DescribeCluster is called only for a ready cluster whose
master node's address is not known yet: ListClusters does not report it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from atmo_provider.aws.states import ALIVE_STATES
from atmo_provider.records.models import ACTIVE_STATUSES, READY_STATUSES, Cluster, SparkJobRun
from atmo_provider.records.writes import RUN_PENDING, apply_description

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from atmo_provider.provisioners import Provisioner

__all__ = [
    "ADOPTION_WINDOW",
    "UNFINISHED_RUN_STATUSES",
    "ListingWindow",
    "by_jobflow_id",
    "list_clusters",
    "listing_window",
    "sync_clusters",
]

log = logging.getLogger(__name__)

#: How far back the sync looks for clusters to adopt.
ADOPTION_WINDOW = timedelta(days=1)

#: Run statuses of runs that may still change.
UNFINISHED_RUN_STATUSES = frozenset(ACTIVE_STATUSES | {RUN_PENDING})


@dataclass(frozen=True)
class ListingWindow:
    """What one ListClusters of a sync asks for.

    :param created_after: only clusters created after this moment.
    :param states: only clusters in these states; None for every state.
    """

    created_after: datetime
    states: frozenset[str] | None


def _start_of_day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def listing_window(session: Session, now: datetime) -> ListingWindow:
    """Return the window of the sync's one ListClusters.

    Every state since the day the oldest active cluster or unfinished run was recorded (and
    at least the adoption window); live clusters of the adoption window when nothing is active.

    :param session: a records session.
    :param now: the current time.
    """
    oldest_cluster = session.scalar(
        select(func.min(Cluster.created_at)).where(
            Cluster.most_recent_status.in_(sorted(ACTIVE_STATUSES))
        )
    )
    oldest_run = session.scalar(
        select(func.min(SparkJobRun.created_at)).where(
            SparkJobRun.status.in_(sorted(UNFINISHED_RUN_STATUSES))
        )
    )
    adoption_start = now - ADOPTION_WINDOW
    oldest = [moment for moment in (oldest_cluster, oldest_run) if moment is not None]
    if not oldest:
        return ListingWindow(adoption_start, frozenset(ALIVE_STATES))
    return ListingWindow(min(_start_of_day(min(oldest)), adoption_start), None)


def list_clusters(provisioner: Provisioner, window: ListingWindow) -> list[dict[str, Any]]:
    """List the clusters of ``window`` (every page); the sync's only ListClusters.

    :param provisioner: a provisioner of the AWS connection.
    :param window: from :func:`listing_window`.
    """
    clusters = provisioner.list(created_after=window.created_after, states=window.states)
    log.info(
        "EMR lists %d cluster(s) created since %s%s",
        len(clusters),
        window.created_after.isoformat(),
        f" in states {', '.join(sorted(window.states))}" if window.states else "",
    )
    return clusters


def by_jobflow_id(listing: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Index a listing by job flow id."""
    return {cluster["jobflow_id"]: cluster for cluster in listing}


def sync_clusters(
    session: Session, provisioner: Provisioner, listing: list[dict[str, Any]], now: datetime
) -> dict[str, int]:
    """Copy state, reason and times of the active cluster records from ``listing``.

    A ready cluster without a master address is described once to learn it. The session is
    committed before each DescribeCluster, so that no lock waits for AWS, and at the end.
    Return counts: ``updated``, ``missing`` (active records EMR did not list), ``described``.

    :param session: a records session.
    :param provisioner: a provisioner of the AWS connection.
    :param listing: the sync's ListClusters answer.
    :param now: the current time (unused by the matching; kept for a uniform signature).
    """
    listed = by_jobflow_id(listing)
    active = session.scalars(
        select(Cluster).where(
            Cluster.most_recent_status.in_(sorted(ACTIVE_STATUSES)),
            Cluster.jobflow_id.is_not(None),
        )
    ).all()

    counts = {"updated": 0, "missing": 0, "described": 0}
    for cluster in active:
        description = listed.get(cluster.jobflow_id)
        if description is None:
            counts["missing"] += 1
            log.warning(
                "Active cluster %s (%s) is not in EMR's listing",
                cluster.jobflow_id,
                cluster.identifier,
            )
            continue
        changed = apply_description(cluster, description)
        if changed:
            counts["updated"] += 1
            log.info(
                "Cluster %s (%s) is %s; updated %s",
                cluster.jobflow_id,
                cluster.identifier,
                cluster.most_recent_status,
                ", ".join(changed),
            )
    session.commit()

    without_address = [
        cluster
        for cluster in active
        if cluster.most_recent_status in READY_STATUSES and not cluster.master_address
    ]
    for cluster in without_address:
        description = provisioner.describe(cluster.jobflow_id)
        counts["described"] += 1
        apply_description(cluster, description)
        session.commit()
        log.info(
            "Cluster %s (%s) has its master node at %s",
            cluster.jobflow_id,
            cluster.identifier,
            cluster.master_address or "(not known yet)",
        )
    return counts
