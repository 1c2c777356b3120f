"""Expiry: one warning before the end, termination at the end, and extensions moving both."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from atmo_provider.provisioners import ClusterProvisioner
from atmo_provider.records.models import Cluster
from atmo_provider.sync import SyncErrors, expire_clusters
from atmo_provider.sync.expiry import send_expiration_warnings
from tests.sync.helpers import launch_cluster, unique, wait_for_state

HOUR = timedelta(hours=1)
NOW = datetime.now(timezone.utc)
ALIVE = {"STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING"}


def reload(session, cluster: Cluster) -> Cluster:
    session.expire_all()
    return session.get(Cluster, cluster.id)


def test_owner_is_warned_once_within_the_lead_time(session, make_cluster, settings, outbox):
    cluster = make_cluster(
        identifier="soon", most_recent_status="WAITING", expires_at=NOW + 30 * timedelta(minutes=1)
    )

    first, _ = send_expiration_warnings(session, NOW, HOUR, settings, outbox)
    second, _ = send_expiration_warnings(
        session, NOW + 10 * timedelta(minutes=1), HOUR, settings, outbox
    )

    assert (first, second) == ([cluster.id], [])
    assert outbox.subjects == ["Cluster soon is expiring soon!"]
    assert outbox.messages[0].to == "alice@example.com"
    assert reload(session, cluster).expiration_mail_sent is True


def test_no_warning_before_the_lead_time(session, make_cluster, settings, outbox):
    make_cluster(most_recent_status="WAITING", expires_at=NOW + 2 * HOUR)

    early, _ = send_expiration_warnings(session, NOW, HOUR, settings, outbox)
    in_time, _ = send_expiration_warnings(
        session, NOW + HOUR + timedelta(minutes=1), HOUR, settings, outbox
    )

    assert early == []
    assert len(in_time) == 1


def test_lead_time_comes_from_the_settings(session, make_cluster, outbox, embedded_aws):
    from atmo_provider.settings import AtmoSettings

    settings = AtmoSettings(expiration_warning_minutes=180)
    make_cluster(most_recent_status="WAITING", expires_at=NOW + 2 * HOUR)

    report = expire_clusters(session, ClusterProvisioner(settings), NOW, settings, outbox)

    assert len(report["warned"]) == 1


def test_a_warning_that_could_not_be_sent_is_sent_at_the_next_sync(
    session, make_cluster, settings, outbox
):
    cluster = make_cluster(most_recent_status="WAITING", expires_at=NOW + 0.5 * HOUR)
    outbox.fail_next = True

    warned, errors = send_expiration_warnings(session, NOW, HOUR, settings, outbox)
    assert (warned, len(errors)) == ([], 1)
    assert reload(session, cluster).expiration_mail_sent is False

    warned, errors = send_expiration_warnings(session, NOW, HOUR, settings, outbox)
    assert (warned, errors) == ([cluster.id], [])
    assert len(outbox.messages) == 1


def test_finished_clusters_are_neither_warned_nor_terminated(
    session, make_cluster, settings, outbox, embedded_aws
):
    make_cluster(most_recent_status="TERMINATED", expires_at=NOW - HOUR, jobflow_id="j-GONE")
    make_cluster(most_recent_status="TERMINATING", expires_at=NOW + 0.5 * HOUR)

    report = expire_clusters(session, ClusterProvisioner(settings), NOW, settings, outbox)

    assert report == {"terminated": [], "warned": []}
    assert outbox.messages == []


@pytest.mark.integration
def test_cluster_is_warned_then_terminated_at_expiry_as_the_clock_moves(
    session, make_cluster, settings, outbox, clean_embedded_aws
):
    jobflow_id = launch_cluster("alice", unique("expiring"))
    cluster = make_cluster(
        most_recent_status="WAITING", jobflow_id=jobflow_id, expires_at=NOW + 2 * HOUR
    )
    provisioner = ClusterProvisioner(settings)

    before = expire_clusters(session, provisioner, NOW + 1.5 * HOUR, settings, outbox)
    assert before == {"terminated": [], "warned": [cluster.id]}
    assert wait_for_state(clean_embedded_aws, jobflow_id, ALIVE) in ALIVE

    at_expiry = expire_clusters(session, provisioner, NOW + 2 * HOUR, settings, outbox)
    assert at_expiry == {"terminated": [jobflow_id], "warned": []}
    assert reload(session, cluster).most_recent_status == "TERMINATING"
    assert wait_for_state(clean_embedded_aws, jobflow_id, {"TERMINATING", "TERMINATED"})
    assert len(outbox.messages) == 1


@pytest.mark.integration
def test_extension_moves_the_warning_and_the_termination(
    session, make_cluster, settings, outbox, clean_embedded_aws
):
    jobflow_id = launch_cluster("alice", unique("extended"))
    cluster = make_cluster(
        most_recent_status="WAITING", jobflow_id=jobflow_id, expires_at=NOW + 2 * HOUR
    )
    provisioner = ClusterProvisioner(settings)
    expire_clusters(session, provisioner, NOW + 1.5 * HOUR, settings, outbox)

    extended = reload(session, cluster)
    extended.extend(4)
    session.commit()
    assert extended.expires_at == NOW + 6 * HOUR
    assert extended.lifetime_extension_count == 1
    assert extended.expiration_mail_sent is False

    at_old_expiry = expire_clusters(session, provisioner, NOW + 2 * HOUR, settings, outbox)
    before_new = expire_clusters(session, provisioner, NOW + 5.5 * HOUR, settings, outbox)
    at_new_expiry = expire_clusters(session, provisioner, NOW + 6 * HOUR, settings, outbox)

    assert at_old_expiry == {"terminated": [], "warned": []}
    assert before_new == {"terminated": [], "warned": [cluster.id]}
    assert at_new_expiry == {"terminated": [jobflow_id], "warned": []}
    assert len(outbox.messages) == 2


def test_mail_errors_fail_the_expiry_after_the_other_clusters_are_done(
    session, make_cluster, settings, outbox, embedded_aws
):
    make_cluster(identifier="first", most_recent_status="WAITING", expires_at=NOW + 0.2 * HOUR)
    make_cluster(identifier="second", most_recent_status="WAITING", expires_at=NOW + 0.4 * HOUR)
    outbox.fail_next = True

    with pytest.raises(SyncErrors, match="1 part"):
        expire_clusters(session, ClusterProvisioner(settings), NOW, settings, outbox)

    assert len(outbox.messages) == 1
