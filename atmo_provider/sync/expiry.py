"""Cluster expiry: warn the owner once before the end, terminate at the end.

A cluster expires ``lifetime`` hours after its launch. ``[atmo] expiration_warning_minutes``
before that (one hour by default) its owner gets one warning mail; the record's
``expiration_mail_sent`` says it went. At ``expires_at`` the cluster is terminated and its
record marked ``TERMINATING``. Extending a cluster (:meth:`Cluster.extend`, from the ATMO tab or
``airflow atmo clusters extend``) moves ``expires_at`` and clears the flag, so the owner is
warned again before the new end.

Each decision is taken by a conditional UPDATE, so that a warning goes once and an extension
made meanwhile wins; no mail and no AWS call happens inside a records transaction.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from atmo_provider.records.models import ACTIVE_STATUSES, STATUS_TERMINATING, Cluster

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from atmo_provider.notify import Sender
    from atmo_provider.provisioners import Provisioner
    from atmo_provider.settings import AtmoSettings

__all__ = ["EXPIRABLE_STATUSES", "send_expiration_warnings", "terminate_expired_clusters"]

log = logging.getLogger(__name__)

#: Statuses of clusters that expiry acts on: active and not already going away.
EXPIRABLE_STATUSES = tuple(sorted(ACTIVE_STATUSES - {STATUS_TERMINATING}))


def send_expiration_warnings(
    session: Session,
    now: datetime,
    lead: timedelta,
    settings: AtmoSettings,
    sender: Sender | None = None,
) -> tuple[list[int], list[BaseException]]:
    """Warn the owners of clusters that expire within ``lead`` from ``now``, once each.

    Return the ids of the clusters warned now and the errors of warnings that could not be
    sent (their flag is cleared again, so the next sync tries again).

    :param session: a records session; committed around each warning.
    :param now: the current time.
    :param lead: how long before the expiry the warning goes.
    :param settings: gives the site's URL for the links.
    :param sender: delivers the messages; :func:`atmo_provider.notify.send_message` by default.
    """
    from atmo_provider.notify import expiration_warning, send_message

    deadline = now + lead
    due = _due_for_warning(deadline, now)
    ids = list(session.scalars(select(Cluster.id).where(*due)))
    session.commit()

    warned: list[int] = []
    errors: list[BaseException] = []
    for cluster_id in ids:
        claim = update(Cluster).where(Cluster.id == cluster_id, *due)
        if not session.execute(claim.values(expiration_mail_sent=True)).rowcount:
            session.commit()
            continue
        cluster = session.get(Cluster, cluster_id)
        session.commit()

        try:
            (sender or send_message)(expiration_warning(cluster, settings))
        except Exception as exc:
            log.exception(
                "Could not warn %s that cluster %s expires", cluster.created_by, cluster.jobflow_id
            )
            release = update(Cluster).where(Cluster.id == cluster_id)
            session.execute(release.values(expiration_mail_sent=False))
            session.commit()
            errors.append(exc)
            continue
        warned.append(cluster_id)
        log.info(
            "Warned %s that cluster %s (%s) expires at %s",
            cluster.created_by,
            cluster.jobflow_id,
            cluster.identifier,
            cluster.expires_at.isoformat(),
        )
    return warned, errors


def _due_for_warning(deadline: datetime, now: datetime) -> tuple:
    return (
        Cluster.most_recent_status.in_(EXPIRABLE_STATUSES),
        Cluster.expiration_mail_sent.is_(False),
        Cluster.expires_at.is_not(None),
        Cluster.expires_at > now,
        Cluster.expires_at <= deadline,
    )


def terminate_expired_clusters(
    session: Session, provisioner: Provisioner, now: datetime
) -> tuple[list[str], list[BaseException]]:
    """Terminate the active clusters whose ``expires_at`` has passed; mark them TERMINATING.

    Return the job flow ids terminated now and the errors of terminations EMR did not accept
    (their previous status is put back, so the next sync tries again).

    :param session: a records session; committed before each TerminateJobFlows.
    :param provisioner: the provisioner of the AWS connection.
    :param now: the current time.
    """
    expired = (
        Cluster.most_recent_status.in_(EXPIRABLE_STATUSES),
        Cluster.expires_at.is_not(None),
        Cluster.expires_at <= now,
        Cluster.jobflow_id.is_not(None),
    )
    rows = session.execute(select(Cluster.id, Cluster.most_recent_status).where(*expired)).all()
    session.commit()

    terminated: list[str] = []
    errors: list[BaseException] = []
    for cluster_id, status in rows:
        claim = update(Cluster).where(
            Cluster.id == cluster_id, Cluster.most_recent_status == status, *expired
        )
        if not session.execute(claim.values(most_recent_status=STATUS_TERMINATING)).rowcount:
            session.commit()
            continue
        cluster = session.get(Cluster, cluster_id)
        session.commit()

        try:
            provisioner.stop(cluster.jobflow_id)
        except Exception as exc:
            log.exception("Could not terminate expired cluster %s", cluster.jobflow_id)
            undo = update(Cluster).where(
                Cluster.id == cluster_id, Cluster.most_recent_status == STATUS_TERMINATING
            )
            session.execute(undo.values(most_recent_status=status))
            session.commit()
            errors.append(exc)
            continue
        terminated.append(cluster.jobflow_id)
        log.info(
            "Terminated cluster %s (%s) of %s: it expired at %s",
            cluster.jobflow_id,
            cluster.identifier,
            cluster.created_by,
            cluster.expires_at.isoformat(),
        )
    return terminated, errors
