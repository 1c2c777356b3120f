"""Spark jobs follow their spec files; runs follow EMR; a failed run alerts its owner once."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from atmo_provider.provisioners import ClusterProvisioner, SparkJobProvisioner
from atmo_provider.records.models import SparkJob, SparkJobRun
from atmo_provider.records.permissions import has_permission
from atmo_provider.settings import AtmoSettings
from atmo_provider.sync import sync_with_emr, sync_with_specs
from atmo_provider.sync.jobs import alert_failed_runs, sync_job_runs
from tests.sync.helpers import launch_job_cluster, unique, wait_for_state

UTC = timezone.utc
NOW = datetime.now(UTC)

SPEC = """\
identifier: {identifier}
owner: ada
owner_email: ada@example.com
description: Counts things.
notebook: counts.ipynb
interval: weekly
start_date: 2030-01-01
size: 3
"""


@pytest.fixture
def jobs_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "jobs"
    folder.mkdir()
    (folder / "counts.ipynb").write_text(json.dumps({"nbformat": 4, "cells": []}))
    return folder


def job_named(session, identifier: str) -> SparkJob:
    session.expire_all()
    return session.scalars(select(SparkJob).where(SparkJob.identifier == identifier)).one()


def test_a_new_spec_gets_a_job_record_before_its_first_run(session, settings, jobs_folder):
    (jobs_folder / "weekly.yaml").write_text(SPEC.format(identifier="weekly-counts"))

    report = sync_with_specs(session, jobs_folder, NOW, settings)

    job = job_named(session, "weekly-counts")
    assert report == {"recorded": ["weekly-counts"], "retired": []}
    assert (job.created_by, job.size, job.interval_in_hours) == ("ada", 3, 168)
    assert job.spec_file == str(jobs_folder / "weekly.yaml")
    assert has_permission(session, "ada", [], "change", job)
    assert has_permission(session, None, ["Spark job maintainers"], "view", job)


def test_a_job_whose_spec_file_is_gone_is_retired(session, settings, jobs_folder):
    spec = jobs_folder / "weekly.yaml"
    spec.write_text(SPEC.format(identifier="weekly-counts"))
    sync_with_specs(session, jobs_folder, NOW, settings)
    spec.unlink()

    report = sync_with_specs(session, jobs_folder, NOW, settings)

    job = job_named(session, "weekly-counts")
    assert report["retired"] == ["weekly-counts"]
    assert job.deleted_at == NOW
    assert job.is_enabled is False


def test_a_job_without_a_spec_file_is_not_retired(session, settings, jobs_folder, make_job):
    make_job(identifier="made-elsewhere", spec_file=None)

    report = sync_with_specs(session, jobs_folder, NOW, settings)

    assert report["retired"] == []
    assert job_named(session, "made-elsewhere").deleted_at is None


def test_a_spec_broken_for_the_moment_keeps_its_job(session, settings, jobs_folder):
    spec = jobs_folder / "weekly.yaml"
    spec.write_text(SPEC.format(identifier="weekly-counts"))
    sync_with_specs(session, jobs_folder, NOW, settings)
    spec.write_text(SPEC.format(identifier="weekly-counts").replace("weekly\n", "hourly\n"))

    report = sync_with_specs(session, jobs_folder, NOW, settings)

    assert report == {"recorded": [], "retired": []}
    assert job_named(session, "weekly-counts").deleted_at is None


def test_a_spec_that_comes_back_brings_its_job_back(session, settings, jobs_folder):
    spec = jobs_folder / "weekly.yaml"
    spec.write_text(SPEC.format(identifier="weekly-counts"))
    sync_with_specs(session, jobs_folder, NOW, settings)
    spec.unlink()
    sync_with_specs(session, jobs_folder, NOW, settings)
    spec.write_text(SPEC.format(identifier="weekly-counts"))

    sync_with_specs(session, jobs_folder, NOW, settings)

    job = job_named(session, "weekly-counts")
    assert (job.deleted_at, job.is_enabled) == (None, True)


def test_a_missing_jobs_folder_retires_nothing(session, settings, jobs_folder, make_job):
    make_job(identifier="kept", spec_file="/gone/kept.yaml")

    report = sync_with_specs(session, jobs_folder / "nowhere", NOW, settings)

    assert report == {"recorded": [], "retired": []}
    assert job_named(session, "kept").deleted_at is None


def add_run(session, job: SparkJob, **fields) -> SparkJobRun:
    run = SparkJobRun(spark_job_id=job.id, **fields)
    session.add(run)
    session.commit()
    return run


def test_a_run_that_never_got_a_cluster_fails_after_its_timeout(session, make_job, settings):
    job = make_job(job_timeout=1)
    run = add_run(
        session, job, status="PENDING", dag_run_id="manual__1", created_at=NOW - timedelta(hours=4)
    )
    recent = add_run(
        session, job, status="PENDING", dag_run_id="manual__2", created_at=NOW - timedelta(hours=1)
    )

    counts = sync_job_runs(session, SparkJobProvisioner(settings), [], NOW)

    session.expire_all()
    assert counts["never_launched"] == 1
    assert session.get(SparkJobRun, run.id).status == "TERMINATED_WITH_ERRORS"
    assert "No cluster was launched" in session.get(SparkJobRun, run.id).status_reason_message
    assert session.get(SparkJobRun, recent.id).status == "PENDING"


def test_a_failed_run_alerts_its_owner_once(session, make_job, settings, outbox):
    job = make_job(identifier="nightly")
    run = add_run(
        session,
        job,
        status="TERMINATED_WITH_ERRORS",
        status_reason_code="BOOTSTRAP_FAILURE",
        status_reason_message="bootstrap action 1 returned a non-zero exit code",
        jobflow_id="j-FAILED1",
    )

    first, _ = alert_failed_runs(session, settings, outbox)
    second, _ = alert_failed_runs(session, settings, outbox)

    assert (first, second) == ([run.id], [])
    [message] = outbox.messages
    assert message.to == "alice@example.com"
    assert message.subject == "Spark job nightly failed"
    assert "BOOTSTRAP_FAILURE" in message.html
    assert "non-zero exit code" in message.html


def test_an_alert_that_could_not_be_sent_is_sent_at_the_next_sync(
    session, make_job, settings, outbox
):
    job = make_job()
    run = add_run(session, job, status="TERMINATED_WITH_ERRORS", jobflow_id="j-FAILED2")
    outbox.fail_next = True

    alerted, errors = alert_failed_runs(session, settings, outbox)
    assert (alerted, len(errors)) == ([], 1)

    alerted, errors = alert_failed_runs(session, settings, outbox)
    assert (alerted, errors) == ([run.id], [])


@pytest.mark.integration
def test_a_pending_run_finds_its_cluster_by_the_launch_tag(
    session, make_job, settings, clean_embedded_aws
):
    identifier = unique("tagged")
    job = make_job(created_by="ada", identifier=identifier)
    run = add_run(session, job, status="PENDING", dag_run_id="scheduled__2024-05-01")
    other = launch_job_cluster("ada", identifier, "scheduled__2024-04-24")
    jobflow_id = launch_job_cluster("ada", identifier, "scheduled__2024-05-01")
    wait_for_state(clean_embedded_aws, jobflow_id, {"TERMINATED"})

    clusters = ClusterProvisioner(AtmoSettings())
    report = sync_with_emr(
        session,
        clusters,
        SparkJobProvisioner(AtmoSettings(), emr=clusters.emr),
        datetime.now(UTC),
        settings,
    )

    session.expire_all()
    found = session.get(SparkJobRun, run.id)
    assert report["runs"]["found"] == 1
    assert found.jobflow_id == jobflow_id != other
    assert found.status == "TERMINATED"
    assert found.finished_at is not None
