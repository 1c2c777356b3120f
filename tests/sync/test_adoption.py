"""Adoption: a live cluster of ours without a record gets one, rebuilt from its tags and name."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from atmo_provider.provisioners import ClusterProvisioner, SparkJobProvisioner
from atmo_provider.records.models import Cluster
from atmo_provider.records.permissions import has_permission
from atmo_provider.records.writes import record_launched_cluster
from atmo_provider.settings import AtmoSettings
from atmo_provider.sync import sync_with_emr
from atmo_provider.sync.adoption import ADOPTION_GRACE, owner_and_identifier
from tests.sync.helpers import launch_cluster, unique, wait_for_state

UTC = timezone.utc
LATER = ADOPTION_GRACE + timedelta(minutes=1)


def sync(session, settings: AtmoSettings, now: datetime) -> dict:
    clusters = ClusterProvisioner(settings)
    jobs = SparkJobProvisioner(settings, emr=clusters.emr)
    return sync_with_emr(session, clusters, jobs, now, settings)


def record_of(session, jobflow_id: str) -> Cluster | None:
    session.expire_all()
    return session.scalars(select(Cluster).where(Cluster.jobflow_id == jobflow_id)).first()


@pytest.mark.integration
def test_untracked_cluster_of_ours_is_adopted_from_its_tags(session, settings, clean_embedded_aws):
    identifier = unique("lost")
    tag = f"atmo_launch_cluster/manual__{identifier}/create_cluster/-1"
    jobflow_id = launch_cluster("ada", identifier, task_instance=tag, lifetime=6)
    wait_for_state(clean_embedded_aws, jobflow_id, {"WAITING"})

    report = sync(session, settings, datetime.now(UTC) + LATER)

    cluster = record_of(session, jobflow_id)
    assert jobflow_id in report["adopted"]
    assert (cluster.created_by, cluster.created_by_email) == ("ada", "ada@example.com")
    assert (cluster.identifier, cluster.lifetime) == (identifier, 6)
    assert cluster.task_instance_key == tag
    assert cluster.most_recent_status == "WAITING"
    assert cluster.expires_at == cluster.started_at + timedelta(hours=6)
    assert all(has_permission(session, "ada", [], p, cluster) for p in ("view", "delete"))


@pytest.mark.integration
def test_young_untracked_cluster_is_left_to_its_launch(session, settings, clean_embedded_aws):
    jobflow_id = launch_cluster("ada", unique("young"))
    wait_for_state(clean_embedded_aws, jobflow_id, {"WAITING"})

    report = sync(session, settings, datetime.now(UTC))

    assert jobflow_id not in report["adopted"]
    assert record_of(session, jobflow_id) is None


@pytest.mark.integration
def test_cluster_without_the_launch_tag_is_not_adopted(session, settings, clean_embedded_aws):
    jobflow_id = launch_cluster("ada", unique("untagged"), task_instance=None)
    wait_for_state(clean_embedded_aws, jobflow_id, {"WAITING"})

    report = sync(session, settings, datetime.now(UTC) + LATER)

    assert jobflow_id not in report["adopted"]
    assert record_of(session, jobflow_id) is None


@pytest.mark.integration
def test_cluster_of_another_environment_is_not_adopted(session, settings, clean_embedded_aws):
    other = AtmoSettings(environment="prod")
    jobflow_id = launch_cluster("ada", unique("elsewhere"), settings=other)
    wait_for_state(clean_embedded_aws, jobflow_id, {"WAITING"})

    report = sync(session, settings, datetime.now(UTC) + LATER)

    assert jobflow_id not in report["adopted"]


@pytest.mark.integration
def test_a_late_launch_record_corrects_the_guessed_owner(session, settings, clean_embedded_aws):
    identifier = unique("late")
    jobflow_id = launch_cluster("ada-l", identifier, email="ada.l@example.com")
    wait_for_state(clean_embedded_aws, jobflow_id, {"WAITING"})
    sync(session, settings, datetime.now(UTC) + LATER)
    guessed = record_of(session, jobflow_id)
    assert guessed.created_by == "ada"

    request = {
        "identifier": identifier,
        "owner": "ada-l",
        "owner_email": "ada.l@example.com",
        "size": 3,
        "lifetime": 8,
        "emr_release": "6.15.0",
    }
    record_launched_cluster(session, request, jobflow_id)
    session.commit()

    cluster = record_of(session, jobflow_id)
    assert (cluster.created_by, cluster.identifier, cluster.size) == ("ada-l", identifier, 3)
    assert has_permission(session, "ada-l", [], "delete", cluster)
    assert not has_permission(session, "ada", [], "view", cluster)


def test_owner_with_a_dash_is_known_by_the_email_of_earlier_records(session, make_cluster):
    make_cluster(created_by="ada-l", created_by_email="ada.l@example.com")

    assert owner_and_identifier(session, "ada-l-notebook-1", "ada.l@example.com") == (
        "ada-l",
        "notebook-1",
    )


def test_unknown_owner_ends_at_the_first_dash(session):
    assert owner_and_identifier(session, "bob-my-cluster", "bob@example.com") == (
        "bob",
        "my-cluster",
    )


def test_owner_named_by_email_is_recognised(session):
    assert owner_and_identifier(session, "bo-b@example.com-x", "bo-b@example.com") == (
        "bo-b@example.com",
        "x",
    )
