"""The mixins: timestamps in UTC, created_<plural> lists, and action URLs."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import update
from sqlalchemy.exc import StatementError

from atmo_provider.records.db import session_scope
from atmo_provider.records.mixins import created_kinds, created_objects
from atmo_provider.records.models import (
    Cluster,
    SparkJob,
    SparkJobRun,
    created_clusters,
    created_spark_job_runs,
    created_spark_jobs,
)


def _modified_at(engine, cluster_id: int) -> datetime:
    with session_scope(engine) as session:
        return session.get(Cluster, cluster_id).modified_at


def test_modified_at_moves_when_the_record_changes(records_engine, make_cluster):
    cluster = make_cluster()
    before = _modified_at(records_engine, cluster.id)
    time.sleep(0.01)

    with session_scope(records_engine) as session:
        session.get(Cluster, cluster.id).most_recent_status = "WAITING"

    assert _modified_at(records_engine, cluster.id) > before


def test_modified_at_moves_on_a_bulk_update(records_engine, make_cluster):
    cluster = make_cluster()
    before = _modified_at(records_engine, cluster.id)
    time.sleep(0.01)

    with session_scope(records_engine) as session:
        session.execute(update(Cluster).values(most_recent_status="TERMINATED"))

    assert _modified_at(records_engine, cluster.id) > before


def test_modified_at_stays_when_the_record_is_only_read(records_engine, make_cluster):
    cluster = make_cluster()
    before = _modified_at(records_engine, cluster.id)
    time.sleep(0.01)

    with session_scope(records_engine) as session:
        loaded = session.get(Cluster, cluster.id)
        assert loaded.identifier == "foo" and loaded.is_active is False

    assert _modified_at(records_engine, cluster.id) == before


def test_created_at_stays_when_the_record_changes(records_engine, make_cluster):
    cluster = make_cluster()

    with session_scope(records_engine) as session:
        session.get(Cluster, cluster.id).size = 3

    with session_scope(records_engine) as session:
        assert session.get(Cluster, cluster.id).created_at == cluster.created_at


def test_timestamps_read_back_timezone_aware_in_utc(records_engine, make_cluster):
    expires = datetime(2030, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    cluster = make_cluster(expires_at=expires)

    with session_scope(records_engine) as session:
        loaded = session.get(Cluster, cluster.id)

    assert loaded.expires_at == expires
    assert loaded.expires_at.utcoffset() == timedelta(0)
    assert loaded.created_at.tzinfo is not None


def test_timestamps_compare_in_queries(records_engine, make_cluster):
    now = datetime.now(timezone.utc)
    soon = make_cluster(identifier="soon", expires_at=now + timedelta(minutes=30))
    make_cluster(identifier="later", expires_at=now + timedelta(hours=5))

    with session_scope(records_engine) as session:
        expiring = session.scalars(
            Cluster.select_created_by("alice").where(
                Cluster.expires_at <= now + timedelta(hours=1)
            )
        ).all()

    assert [cluster.id for cluster in expiring] == [soon.id]


def test_naive_timestamps_are_refused(records_engine):
    cluster = Cluster(
        identifier="foo", created_by="alice", emr_release="6.15.0", expires_at=datetime(2030, 1, 1)
    )

    with pytest.raises(StatementError, match="timezone-aware"):
        with session_scope(records_engine) as session:
            cluster.save(session)


def test_a_new_cluster_expires_after_its_lifetime(records_engine, make_cluster):
    started = datetime.now(timezone.utc)

    cluster = make_cluster(lifetime=4)

    assert timedelta(hours=4) <= cluster.expires_at - started < timedelta(hours=4, minutes=1)


def test_extend_adds_hours_counts_and_rearms_the_mail(records_engine, make_cluster):
    cluster = make_cluster(lifetime=4, expiration_mail_sent=True)

    with session_scope(records_engine) as session:
        loaded = session.get(Cluster, cluster.id)
        loaded.extend(3)

    with session_scope(records_engine) as session:
        extended = session.get(Cluster, cluster.id)
        assert extended.expires_at == cluster.expires_at + timedelta(hours=3)
        assert extended.lifetime_extension_count == 1
        assert extended.expiration_mail_sent is False


def test_created_clusters_lists_one_users_clusters_newest_first(records_engine, make_cluster):
    first = make_cluster(created_by="alice", identifier="one")
    make_cluster(created_by="bob", identifier="other")
    second = make_cluster(created_by="alice", identifier="two")

    with session_scope(records_engine) as session:
        clusters = created_clusters(session, "alice")

    assert [cluster.id for cluster in clusters] == [second.id, first.id]


def test_created_spark_jobs_lists_one_users_jobs(records_engine, make_job):
    job = make_job(created_by="alice")
    make_job(created_by="bob")

    with session_scope(records_engine) as session:
        assert [found.id for found in created_spark_jobs(session, "alice")] == [job.id]


def test_created_spark_job_runs_are_the_runs_of_the_users_jobs(records_engine, make_job):
    own, other = make_job(created_by="alice"), make_job(created_by="bob")
    with session_scope(records_engine) as session:
        session.add_all([SparkJobRun(spark_job_id=own.id), SparkJobRun(spark_job_id=other.id)])

    with session_scope(records_engine) as session:
        runs = created_spark_job_runs(session, "alice")

    assert [run.spark_job_id for run in runs] == [own.id]


def test_created_objects_knows_every_kind_by_plural_name():
    assert created_kinds() == ["clusters", "spark_job_runs", "spark_jobs"]


def test_created_objects_refuses_an_unknown_kind(records_engine):
    with session_scope(records_engine) as session, pytest.raises(ValueError, match="clusters"):
        created_objects(session, "alice", "keys")


def test_deleting_a_job_deletes_its_runs(records_engine, make_job):
    job = make_job()
    with session_scope(records_engine) as session:
        session.add(SparkJobRun(spark_job_id=job.id, status="RUNNING"))

    with session_scope(records_engine) as session:
        session.get(SparkJob, job.id).delete(session)

    with session_scope(records_engine) as session:
        assert session.query(SparkJobRun).count() == 0


def test_url_for_action_builds_the_path_of_an_action():
    cluster = Cluster(id=12)

    assert cluster.url_for_action("extend") == "/atmo/clusters/12/extend"
    assert cluster.url_for_action("terminate", base="") == "/clusters/12/terminate"


def test_get_absolute_url_is_the_detail_page():
    assert SparkJob(id=3).get_absolute_url(base="/atmo/") == "/atmo/jobs/3"


def test_url_for_an_unknown_action_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="detail, extend, terminate"):
        Cluster(id=12).url_for_action("edit")
