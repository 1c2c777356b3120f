"""Adoption: a record for a cluster of ours that has none, e.g. after a crash before the write.

A cluster is ours when its name starts with ``atmo-<environment>-cluster-`` and it carries the
``atmo:task-instance`` tag a launch task gives it. Only live clusters created more than
:data:`ADOPTION_GRACE` ago are adopted: a younger one belongs to a launch that is about to
record it itself (and that corrects an adopted record when it comes late).

The record is rebuilt from the cluster: the ``Owner`` tag is the owner's email, the ``Name``
gives the owner's username and the identifier, the ``atmo:lifetime-hours`` tag the lifetime
(the expiry counts from EMR's creation time), the release label the EMR release.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from atmo_provider.aws.states import ALIVE_STATES
from atmo_provider.operators.cluster import LIFETIME_TAG
from atmo_provider.provisioners import TASK_INSTANCE_TAG
from atmo_provider.records.models import Cluster, SparkJob
from atmo_provider.records.writes import apply_description, emr_time

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from atmo_provider.provisioners import ClusterProvisioner
    from atmo_provider.settings import AtmoSettings

__all__ = ["ADOPTION_GRACE", "adopt_clusters", "adoption_candidates", "owner_and_identifier"]

log = logging.getLogger(__name__)

#: How old an untracked cluster must be before the sync adopts it.
ADOPTION_GRACE = timedelta(minutes=10)


def _name_prefix(provisioner: ClusterProvisioner) -> str:
    return provisioner.cluster_name("", "").removesuffix("-")


def adoption_candidates(
    session: Session,
    provisioner: ClusterProvisioner,
    listing: list[dict[str, Any]],
    now: datetime,
) -> list[dict[str, Any]]:
    """Return the listed live clusters of this environment that no record knows.

    :param session: a records session.
    :param provisioner: gives the environment's cluster name prefix.
    :param listing: the sync's ListClusters answer.
    :param now: the current time; clusters younger than :data:`ADOPTION_GRACE` are left.
    """
    prefix = _name_prefix(provisioner)
    ours = [
        cluster
        for cluster in listing
        if (cluster.get("name") or "").startswith(prefix)
        and cluster.get("state") in ALIVE_STATES
        and cluster.get("creation_datetime") is not None
        and cluster["creation_datetime"] <= now - ADOPTION_GRACE
    ]
    if not ours:
        return []

    ids = [cluster["jobflow_id"] for cluster in ours]
    known = set(session.scalars(select(Cluster.jobflow_id).where(Cluster.jobflow_id.in_(ids))))
    return [cluster for cluster in ours if cluster["jobflow_id"] not in known]


def owner_and_identifier(session: Session, rest: str, owner_email: str) -> tuple[str, str]:
    """Split ``<owner>-<identifier>`` from a cluster name, both of which may contain dashes.

    A username already on record with ``owner_email`` that starts ``rest`` wins, then the email
    itself; otherwise the owner is what comes before the first dash.

    :param session: a records session.
    :param rest: the cluster name after ``atmo-<environment>-cluster-``.
    :param owner_email: the cluster's ``Owner`` tag.
    """
    candidates: set[str] = set()
    if owner_email:
        candidates.add(owner_email)
        for model in (Cluster, SparkJob):
            candidates.update(
                session.scalars(
                    select(model.created_by)
                    .where(model.created_by_email == owner_email)
                    .distinct()
                )
            )
    for username in sorted(candidates, key=len, reverse=True):
        if rest.startswith(f"{username}-") and len(rest) > len(username) + 1:
            return username, rest[len(username) + 1 :]

    # Limitation: a new owner whose username contains a dash is cut at its first dash; the
    # launch task corrects the owner if it records the cluster later.
    owner, _, identifier = rest.partition("-")
    return owner, identifier or owner


def _lifetime(tags: dict[str, str], settings: AtmoSettings) -> int:
    try:
        return int(tags.get(LIFETIME_TAG, ""))
    except ValueError:
        return settings.default_cluster_lifetime


def _adopt(
    session: Session,
    provisioner: ClusterProvisioner,
    description: dict[str, Any],
    now: datetime,
    settings: AtmoSettings,
) -> Cluster | None:
    tags = description.get("tags") or {}
    task_instance = tags.get(TASK_INSTANCE_TAG)
    if not task_instance:
        log.info(
            "Cluster %s (%s) has no %s tag; not ours to adopt",
            description["jobflow_id"],
            description.get("name"),
            TASK_INSTANCE_TAG,
        )
        return None

    email = tags.get("Owner") or ""
    rest = (description.get("name") or "")[len(_name_prefix(provisioner)) :]
    owner, identifier = owner_and_identifier(session, rest, email)
    lifetime = _lifetime(tags, settings)
    created = emr_time(description.get("creation_datetime")) or now
    cluster = Cluster(
        created_by=owner,
        created_by_email=email,
        identifier=identifier[:100],
        # Limitation: EMR's descriptions do not give the node count; it is taken as 1.
        size=Cluster.DEFAULT_SIZE,
        lifetime=lifetime,
        emr_release=(description.get("release_label") or "").removeprefix("emr-"),
        jobflow_id=description["jobflow_id"],
        task_instance_key=task_instance,
        created_at=created,
        expires_at=created + timedelta(hours=lifetime),
    )
    apply_description(cluster, description)
    try:
        with session.begin_nested():
            cluster.save(session, settings=settings)
    except IntegrityError:
        session.commit()
        log.info("Cluster %s was recorded by its launch meanwhile", description["jobflow_id"])
        return None
    session.commit()
    log.warning(
        "Adopted untracked cluster %s (%s) of %s from task instance %s; it expires at %s",
        cluster.jobflow_id,
        cluster.identifier,
        owner,
        task_instance,
        cluster.expires_at.isoformat(),
    )
    return cluster


def adopt_clusters(
    session: Session,
    provisioner: ClusterProvisioner,
    listing: list[dict[str, Any]],
    now: datetime,
    settings: AtmoSettings,
) -> list[Cluster]:
    """Record the live clusters of ours that have no record; return the new records.

    Each candidate is described once (ListClusters has no tags). The session is committed
    before each DescribeCluster and after each adoption.

    :param session: a records session.
    :param provisioner: the cluster provisioner of the AWS connection.
    :param listing: the sync's ListClusters answer.
    :param now: the current time.
    :param settings: gives the default lifetime and the maintainers role.
    """
    candidates = adoption_candidates(session, provisioner, listing, now)
    session.commit()

    adopted = []
    for candidate in candidates:
        description = provisioner.describe(candidate["jobflow_id"])
        cluster = _adopt(session, provisioner, description, now, settings)
        if cluster is not None:
            adopted.append(cluster)
    return adopted
