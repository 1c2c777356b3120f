"""Per-user cluster limits: how many active clusters, and how many nodes in total.

Two limits of the ``[atmo]`` section apply when a user launches a cluster; 0 turns one off:

* ``max_active_clusters_per_user``: active clusters (starting, bootstrapping, running, waiting
  or terminating) one user may have at a time, the new one included;
* ``max_total_size_per_user``: the sum of the sizes of those clusters, the new one included.
  A cluster's size is the number users pick: 1 is a master node alone, N > 1 adds N core
  nodes. The master node is not counted, so that the limit reads in the same unit as the
  size field of the launch form.

Users named in ``[atmo] limit_exempt_users`` are exempt. ATMO exempted its cluster maintainers
by a global permission; tasks cannot read Airflow's roles, so the exemption is a list of
usernames here.

The counts come from the records, which the sync DAG keeps up to date every five minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from atmo_provider.errors import AtmoValidationError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from atmo_provider.settings import AtmoSettings

__all__ = ["UserUsage", "check_launch_limits", "is_exempt", "user_usage"]


@dataclass(frozen=True)
class UserUsage:
    """What a user has running now.

    :param active_clusters: the number of the user's active clusters.
    :param total_size: the sum of their sizes.
    """

    active_clusters: int
    total_size: int


def is_exempt(username: str, settings: AtmoSettings) -> bool:
    """Tell whether the per-user limits spare ``username``.

    :param username: the cluster's owner.
    :param settings: gives ``limit_exempt_users``.
    """
    return username in settings.limit_exempt_users


def user_usage(session: Session, username: str) -> UserUsage:
    """Count the active clusters of ``username`` and add up their sizes, from the records.

    :param session: a records session.
    :param username: the owner.
    """
    from sqlalchemy import func, select

    from atmo_provider.records.models import ACTIVE_STATUSES, Cluster

    count, total = session.execute(
        select(func.count(Cluster.id), func.coalesce(func.sum(Cluster.size), 0)).where(
            Cluster.created_by == username,
            Cluster.most_recent_status.in_(sorted(ACTIVE_STATUSES)),
        )
    ).one()
    return UserUsage(active_clusters=int(count), total_size=int(total))


def check_launch_limits(
    session: Session, username: str, size: int, settings: AtmoSettings
) -> UserUsage:
    """Refuse a launch of a cluster of ``size`` for ``username`` that would exceed a limit.

    Return the user's usage before the launch.

    :param session: a records session.
    :param username: the cluster's owner.
    :param size: the size of the new cluster.
    :param settings: gives the limits and the exempt users.
    :raises AtmoValidationError: naming the limit, the user's usage and what is allowed.
    """
    # Limitation: two launches of one user checked at the same moment both see only the clusters
    # recorded so far; a cluster is recorded once EMR accepted it, not when it is asked for.
    usage = user_usage(session, username)
    if is_exempt(username, settings):
        return usage

    max_clusters = settings.max_active_clusters_per_user
    if max_clusters > 0 and usage.active_clusters + 1 > max_clusters:
        raise AtmoValidationError(
            "owner",
            f"{username} has {usage.active_clusters} active cluster(s) and the limit "
            f"max_active_clusters_per_user is {max_clusters}; terminate one first",
        )

    max_size = settings.max_total_size_per_user
    if max_size > 0 and usage.total_size + size > max_size:
        room = max(max_size - usage.total_size, 0)
        raise AtmoValidationError(
            "size",
            f"{username}'s active clusters have {usage.total_size} node(s) together and the "
            f"limit max_total_size_per_user is {max_size}; a new cluster may have at most "
            f"{room} node(s), got {size}",
        )
    return usage
