"""The writes the DAGs make are idempotent: a retried task finds what its earlier try wrote."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from atmo_provider.errors import AtmoConfigurationError
from atmo_provider.jobs.spec import JobSpec
from atmo_provider.records.models import Cluster, SparkJobRun
from atmo_provider.records.permissions import has_permission
from atmo_provider.records.writes import (
    apply_description,
    record_launched_cluster,
    records_engine,
    start_job_run,
    upsert_spark_job,
)
from atmo_provider.settings import AtmoSettings

UTC = timezone.utc
NOW = datetime(2024, 5, 4, 10, 0, tzinfo=UTC)
REQUEST = {
    "identifier": "analysis",
    "owner": "ada",
    "owner_email": "ada@example.com",
    "size": 2,
    "lifetime": 6,
    "emr_release": "6.15.0",
}


def count(session, model) -> int:
    return session.scalar(select(func.count(model.id)))


def test_a_launched_cluster_is_recorded_starting_with_its_expiry(session):
    cluster = record_launched_cluster(session, REQUEST, "j-ONE", now=NOW)

    assert cluster.most_recent_status == "STARTING"
    assert cluster.expires_at == NOW + timedelta(hours=6)
    assert has_permission(session, "ada", [], "delete", cluster)


def test_a_retried_record_write_finds_the_cluster_by_its_job_flow_id(session):
    first = record_launched_cluster(session, REQUEST, "j-TWO", now=NOW)
    first.most_recent_status = "WAITING"
    session.flush()

    again = record_launched_cluster(session, REQUEST, "j-TWO", now=NOW + timedelta(minutes=3))

    assert again.id == first.id
    assert count(session, Cluster) == 1
    assert again.most_recent_status == "WAITING"
    assert again.expires_at == NOW + timedelta(hours=6)


def spec(**changes) -> JobSpec:
    values = {
        "identifier": "nightly",
        "owner": "ada",
        "owner_email": "ada@example.com",
        "description": "Counts things.",
        "notebook_path": "/jobs/nightly.ipynb",
        "interval": "daily",
        "start_date": NOW,
        "source_file": "/jobs/nightly.yaml",
    }
    values.update(changes)
    return JobSpec(**values)


def test_a_retried_run_start_gets_the_same_run(session, settings):
    job = upsert_spark_job(session, spec(), settings)

    first = start_job_run(session, job, "scheduled__1", NOW)
    again = start_job_run(session, job, "scheduled__1", NOW)

    assert again.id == first.id
    assert (first.status, first.scheduled_at) == ("PENDING", NOW)


def test_a_dag_run_cleared_after_its_run_ended_gets_a_new_run(session, settings):
    job = upsert_spark_job(session, spec(), settings)
    first = start_job_run(session, job, "scheduled__1", NOW)
    first.status = "TERMINATED"
    session.flush()

    again = start_job_run(session, job, "scheduled__1", NOW)

    assert again.id != first.id
    assert count(session, SparkJobRun) == 2


def test_a_spec_naming_another_owner_moves_the_owners_permissions(session, settings):
    job = upsert_spark_job(session, spec(), settings)

    moved = upsert_spark_job(session, spec(owner="bob", owner_email="bob@example.com"), settings)

    assert moved.id == job.id
    assert (moved.created_by, moved.created_by_email) == ("bob", "bob@example.com")
    assert has_permission(session, "bob", [], "change", moved)
    assert not has_permission(session, "ada", [], "view", moved)


def test_an_unchanged_description_changes_nothing(session):
    cluster = record_launched_cluster(session, REQUEST, "j-THREE", now=NOW)
    description = {
        "state": "WAITING",
        "state_change_reason_code": None,
        "state_change_reason_message": "Cluster ready",
        "creation_datetime": NOW.isoformat(),
        "ready_datetime": NOW + timedelta(minutes=5),
        "end_datetime": None,
        "public_dns": "ec2-1-2-3-4.compute.amazonaws.com",
    }

    first = apply_description(cluster, description)
    second = apply_description(cluster, description)

    assert set(first) == {
        "most_recent_status",
        "status_reason_message",
        "started_at",
        "ready_at",
        "master_address",
    }
    assert second == []


def test_a_records_database_not_migrated_is_refused_with_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_ATMO_UNMIGRATED", f"sqlite:///{tmp_path / 'new.db'}")

    with pytest.raises(AtmoConfigurationError, match="run `airflow atmo db migrate` first"):
        records_engine(AtmoSettings(records_conn_id="atmo_unmigrated"))
