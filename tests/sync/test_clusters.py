"""The cluster sync: one listing from the oldest active record's day, matched by job flow id."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from atmo_provider.provisioners import ClusterProvisioner
from atmo_provider.records.models import Cluster, SparkJobRun
from atmo_provider.sync.clusters import list_clusters, listing_window, sync_clusters
from tests.sync.helpers import launch_cluster, unique, wait_for_state

UTC = timezone.utc
NOW = datetime(2024, 5, 4, 10, 30, tzinfo=UTC)


def test_listing_starts_at_the_day_of_the_oldest_active_cluster(session, make_cluster):
    make_cluster(most_recent_status="TERMINATED", created_at=NOW - timedelta(days=9))
    make_cluster(most_recent_status="WAITING", created_at=datetime(2024, 5, 2, 15, tzinfo=UTC))
    make_cluster(most_recent_status="STARTING", created_at=NOW - timedelta(hours=1))

    window = listing_window(session, NOW)

    assert window.created_after == datetime(2024, 5, 2, tzinfo=UTC)
    assert window.states is None


def test_unfinished_runs_count_like_active_clusters(session, make_job):
    job = make_job()
    session.add(
        SparkJobRun(
            spark_job_id=job.id, status="PENDING", created_at=datetime(2024, 4, 30, 8, tzinfo=UTC)
        )
    )
    session.commit()

    assert listing_window(session, NOW).created_after == datetime(2024, 4, 30, tzinfo=UTC)


def test_listing_covers_at_least_the_last_day_for_adoption(session, make_cluster):
    make_cluster(most_recent_status="WAITING", created_at=NOW - timedelta(minutes=5))

    window = listing_window(session, NOW)

    assert window.created_after == NOW - timedelta(days=1)


def test_with_nothing_active_only_live_clusters_of_the_last_day_are_listed(session, make_cluster):
    make_cluster(most_recent_status="TERMINATED_WITH_ERRORS", created_at=NOW - timedelta(days=2))

    window = listing_window(session, NOW)

    assert window.created_after == NOW - timedelta(days=1)
    assert window.states == {"STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING"}


def reload(session, cluster: Cluster) -> Cluster:
    session.expire_all()
    return session.get(Cluster, cluster.id)


def sync_now(session, settings) -> dict:
    provisioner = ClusterProvisioner(settings)
    now = datetime.now(UTC)
    listing = list_clusters(provisioner, listing_window(session, now))
    return sync_clusters(session, provisioner, listing, now)


@pytest.mark.integration
def test_ready_cluster_gets_state_times_and_master_address(
    session, make_cluster, settings, clean_embedded_aws
):
    jobflow_id = launch_cluster("alice", unique("ready"))
    cluster = make_cluster(most_recent_status="STARTING", jobflow_id=jobflow_id)
    wait_for_state(clean_embedded_aws, jobflow_id, {"WAITING"})

    counts = sync_now(session, settings)

    synced = reload(session, cluster)
    assert counts["updated"] == 1 and counts["described"] == 1
    assert synced.most_recent_status == "WAITING"
    assert synced.started_at is not None and synced.ready_at is not None
    assert synced.master_address


@pytest.mark.integration
def test_a_known_master_address_is_not_described_again(
    session, make_cluster, settings, clean_embedded_aws
):
    jobflow_id = launch_cluster("alice", unique("known"))
    make_cluster(most_recent_status="STARTING", jobflow_id=jobflow_id)
    wait_for_state(clean_embedded_aws, jobflow_id, {"WAITING"})
    sync_now(session, settings)
    clean_embedded_aws.control.reset_call_counts()

    counts = sync_now(session, settings)

    emr_calls = clean_embedded_aws.control.call_counts()["emr"]
    assert counts == {"updated": 0, "missing": 0, "described": 0}
    assert emr_calls.get("DescribeCluster", 0) == 0
    assert emr_calls["ListClusters"] >= 1


@pytest.mark.integration
def test_terminated_cluster_gets_its_end_and_reason(
    session, make_cluster, settings, clean_embedded_aws
):
    jobflow_id = launch_cluster("alice", unique("ended"))
    cluster = make_cluster(most_recent_status="WAITING", jobflow_id=jobflow_id)
    ClusterProvisioner(settings).stop(jobflow_id)
    wait_for_state(clean_embedded_aws, jobflow_id, {"TERMINATED"})

    sync_now(session, settings)

    synced = reload(session, cluster)
    assert synced.most_recent_status == "TERMINATED"
    assert synced.status_reason_code == "USER_REQUEST"
    assert synced.finished_at is not None
    assert synced.is_active is False
