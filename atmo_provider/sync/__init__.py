"""The sync: records kept true to EMR and to the spec files, expiry, adoption and alerts.

The DAG ``atmo_sync`` runs the three entry points every five minutes:

* :func:`sync_with_emr`: one ListClusters (see :mod:`.clusters`) updates the active cluster
  records and the unfinished runs, adopts untracked clusters of ours (:mod:`.adoption`) and
  alerts the owners of failed runs (:mod:`.jobs`);
* :func:`sync_with_specs`: job records follow the spec files (:mod:`.jobs`);
* :func:`expire_clusters`: expiry warnings and terminations (:mod:`.expiry`).

Every part takes a session, a provisioner and ``now``, so tests move the clock instead of
sleeping. Parts commit the session before calling AWS or sending mail. An error of one
cluster or one mail does not stop the others: the errors are raised together at the end, as
:class:`SyncErrors`, so that the task fails and is tried again.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atmo_provider.sync.adoption import adopt_clusters
from atmo_provider.sync.clusters import list_clusters, listing_window, sync_clusters
from atmo_provider.sync.expiry import send_expiration_warnings, terminate_expired_clusters
from atmo_provider.sync.jobs import alert_failed_runs, reconcile_job_specs, sync_job_runs

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from atmo_provider.notify import Sender
    from atmo_provider.provisioners import ClusterProvisioner, SparkJobProvisioner
    from atmo_provider.settings import AtmoSettings

__all__ = ["SyncErrors", "expire_clusters", "sync_with_emr", "sync_with_specs"]

log = logging.getLogger(__name__)


class SyncErrors(RuntimeError):
    """Some mails or AWS calls of a sync failed; the rest of the sync was done.

    :param errors: the errors, in the order they happened.
    """

    def __init__(self, errors: list[BaseException]) -> None:
        summary = "; ".join(f"{type(exc).__name__}: {exc}" for exc in errors[:5])
        super().__init__(f"{len(errors)} part(s) of the sync failed: {summary}")
        self.errors = errors


def _raise_errors(errors: list[BaseException]) -> None:
    if errors:
        raise SyncErrors(errors)


def sync_with_emr(
    session: Session,
    cluster_provisioner: ClusterProvisioner,
    job_provisioner: SparkJobProvisioner,
    now: datetime,
    settings: AtmoSettings,
    sender: Sender | None = None,
) -> dict[str, Any]:
    """Update clusters and runs from one ListClusters, adopt orphans, alert failed runs.

    Return what was done, for the task's XCom.

    :param session: a records session.
    :param cluster_provisioner: the cluster provisioner of the AWS connection.
    :param job_provisioner: the Spark job provisioner of the same connection.
    :param now: the current time.
    :param settings: the provider's settings.
    :param sender: delivers mail; :func:`atmo_provider.notify.send_message` by default.
    """
    window = listing_window(session, now)
    session.commit()
    listing = list_clusters(cluster_provisioner, window)

    clusters = sync_clusters(session, cluster_provisioner, listing, now)
    adopted = adopt_clusters(session, cluster_provisioner, listing, now, settings)
    runs = sync_job_runs(session, job_provisioner, listing, now)
    alerted, errors = alert_failed_runs(session, settings, sender)

    report = {
        "listed": len(listing),
        "clusters": clusters,
        "adopted": [cluster.jobflow_id for cluster in adopted],
        "runs": runs,
        "alerted_runs": alerted,
    }
    log.info("Synced with EMR: %s", report)
    _raise_errors(errors)
    return report


def sync_with_specs(
    session: Session, jobs_folder: str | os.PathLike, now: datetime, settings: AtmoSettings
) -> dict[str, list[str]]:
    """Record the valid specs of ``jobs_folder`` and retire the jobs whose spec file is gone.

    A missing folder changes nothing: it is more likely a wrong setting than the removal of
    every job.

    :param session: a records session.
    :param jobs_folder: the folder of spec files the Spark job DAGs are made from.
    :param now: the current time.
    :param settings: the provider's settings.
    """
    from atmo_provider.jobs.spec import SPEC_SUFFIXES, load_job_specs

    folder = Path(jobs_folder)
    if not folder.is_dir():
        log.warning("The jobs folder %s does not exist; no Spark job record changed", folder)
        return {"recorded": [], "retired": []}

    specs, errors = load_job_specs(folder, settings.emr_releases)
    for error in errors:
        log.warning("Spark job spec problem: %s", error)
    files = [path.name for path in folder.iterdir() if path.name.endswith(SPEC_SUFFIXES)]
    return reconcile_job_specs(session, specs, files, now, settings)


def expire_clusters(
    session: Session,
    provisioner: ClusterProvisioner,
    now: datetime,
    settings: AtmoSettings,
    sender: Sender | None = None,
) -> dict[str, list]:
    """Terminate the clusters past their expiry, then warn the owners of those about to expire.

    :param session: a records session.
    :param provisioner: the cluster provisioner of the AWS connection.
    :param now: the current time.
    :param settings: gives ``expiration_warning_minutes`` and the site's URL.
    :param sender: delivers mail; :func:`atmo_provider.notify.send_message` by default.
    """
    terminated, stop_errors = terminate_expired_clusters(session, provisioner, now)
    lead = timedelta(minutes=settings.expiration_warning_minutes)
    warned, mail_errors = send_expiration_warnings(session, now, lead, settings, sender)

    report = {"terminated": terminated, "warned": warned}
    log.info("Expiry: %s", report)
    _raise_errors(stop_errors + mail_errors)
    return report
