"""The DAGs write the records: the launch DAG before it waits, the Spark job DAGs each run.

Runs with ``dag.test()`` against the embedded AWS and a records database of SQLite in a
temporary folder. Mail goes to :func:`deliver_to_mailbox`, an Airflow email backend that
appends each message to the JSON lines file named by ``ATMO_TEST_MAILBOX``.
"""

from __future__ import annotations

import datetime
import json
import os
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import select

from atmo_provider.records.db import dispose_engines, session_scope
from atmo_provider.records.migrate import migrate
from atmo_provider.records.models import Cluster, SparkJob, SparkJobRun
from atmo_provider.records.permissions import has_permission
from tests.conftest import ROOT
from tests.integration.helpers_aws import register_dag

pytestmark = pytest.mark.integration

UTC = datetime.timezone.utc


def deliver_to_mailbox(to, subject, html_content, **_kwargs) -> None:
    """An Airflow email backend for these tests: one JSON line per message."""
    with open(os.environ["ATMO_TEST_MAILBOX"], "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"to": to, "subject": subject, "html": html_content}) + "\n")


def mailbox(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def records(tmp_path, monkeypatch):
    """A migrated records database behind ``atmo_default``; fast polls; mail to a file."""
    monkeypatch.setenv("AIRFLOW_CONN_ATMO_DEFAULT", f"sqlite:///{tmp_path / 'atmo.db'}")
    monkeypatch.setenv("AIRFLOW__ATMO__POLL_INTERVAL", "1")
    monkeypatch.setenv(
        "AIRFLOW__EMAIL__EMAIL_BACKEND", f"{__name__}.{deliver_to_mailbox.__name__}"
    )
    monkeypatch.setenv("ATMO_TEST_MAILBOX", str(tmp_path / "mailbox.jsonl"))
    migrate("atmo_default")
    from atmo_provider.records.db import get_engine

    yield get_engine("atmo_default")
    dispose_engines()


@pytest.fixture(scope="module")
def ssh_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()


@pytest.fixture(scope="module")
def launch_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags" / "atmo_launch_cluster.py"))
    assert bag.import_errors == {}
    return bag.dags["atmo_launch_cluster"]


def task_instances(run) -> dict:
    return {ti.task_id: ti for ti in run.get_task_instances()}


def run_job_flow_calls(aws) -> int:
    return aws.control.call_counts().get("emr", {}).get("RunJobFlow", 0)


# The launch DAG.


def test_launch_records_the_cluster_before_waiting_and_leaves_it_waiting(
    airflow_db, clean_embedded_aws, records, launch_dag, ssh_key
):
    identifier = f"rec-{uuid.uuid4().hex[:8]}"

    run = launch_dag.test(
        run_conf={"identifier": identifier, "size": 2, "lifetime": 4, "ssh_public_key": ssh_key}
    )

    tis = task_instances(run)
    assert run.state == "success", {task: ti.state for task, ti in tis.items()}
    assert tis["record_cluster"].end_date <= tis["wait_until_ready"].start_date
    with session_scope(records) as session:
        cluster = session.scalars(select(Cluster).where(Cluster.identifier == identifier)).one()
        permissions = {
            perm: has_permission(session, "dag_test", [], perm, cluster)
            for perm in ("view", "change", "delete")
        }
    assert cluster.jobflow_id == tis["create_cluster"].xcom_pull(task_ids="create_cluster")
    assert cluster.most_recent_status == "WAITING"
    assert cluster.master_address
    assert cluster.ready_at is not None
    assert (cluster.created_by, cluster.size, cluster.lifetime) == ("dag_test", 2, 4)
    assert cluster.expires_at - cluster.created_at == datetime.timedelta(hours=4)
    assert cluster.ssh_key_fingerprint.count(":") == 15
    assert permissions == {"view": True, "change": True, "delete": True}


def test_launch_over_the_users_cluster_limit_is_refused_before_emr(
    airflow_db, clean_embedded_aws, records, launch_dag, ssh_key, monkeypatch, capfd
):
    monkeypatch.setenv("AIRFLOW__ATMO__MAX_ACTIVE_CLUSTERS_PER_USER", "1")
    with session_scope(records) as session:
        Cluster(
            identifier="already-running",
            created_by="dag_test",
            emr_release="6.15.0",
            most_recent_status="WAITING",
            jobflow_id=f"j-{uuid.uuid4().hex[:12]}",
        ).save(session)

    run = launch_dag.test(run_conf={"ssh_public_key": ssh_key})

    tis = task_instances(run)
    assert run.state == "failed"
    assert tis["validate_request"].state == "failed"
    assert tis["validate_request"].try_number == 1
    assert run_job_flow_calls(clean_embedded_aws) == 0
    output = "".join(capfd.readouterr())
    assert "dag_test has 1 active cluster(s) and the limit max_active_clusters_per_user is 1" in (
        output
    )


# The Spark job DAGs.


def write_notebook(folder: Path) -> Path:
    path = folder / "counts.ipynb"
    path.write_text(
        json.dumps(
            {
                "nbformat": 4,
                "nbformat_minor": 5,
                "metadata": {},
                "cells": [{"cell_type": "code", "metadata": {}, "source": "print(1)"}],
            }
        )
    )
    return path


def job_dag(tmp_path: Path, identifier: str, *, retries: int | None = None):
    from atmo_provider.jobs.dags import build_job_dag
    from atmo_provider.jobs.spec import JobSpec
    from atmo_provider.settings import get_settings

    spec = JobSpec(
        identifier=identifier,
        owner="ada",
        owner_email="ada@example.com",
        description="Counts things.",
        notebook_path=str(write_notebook(tmp_path)),
        interval="daily",
        start_date=datetime.datetime(2024, 1, 1, tzinfo=UTC),
        source_file=str(tmp_path / f"{identifier}.yaml"),
        size=1,
        timeout=1,
    )
    dag = build_job_dag(spec, get_settings())
    if retries is not None:
        dag.get_task("run_spark_job").retries = retries
    register_dag(dag)
    return dag


def job_records(engine, identifier: str) -> tuple[SparkJob, list[SparkJobRun], dict]:
    with session_scope(engine) as session:
        job = session.scalars(select(SparkJob).where(SparkJob.identifier == identifier)).one()
        runs = list(session.scalars(select(SparkJobRun).where(SparkJobRun.spark_job_id == job.id)))
        permissions = {
            "owner": [
                perm
                for perm in ("view", "change", "delete")
                if has_permission(session, "ada", [], perm, job)
            ],
            "maintainers": has_permission(session, None, ["Spark job maintainers"], "view", job),
        }
    return job, runs, permissions


def test_job_run_records_the_job_and_a_finished_run(
    airflow_db, clean_embedded_aws, records, tmp_path
):
    identifier = f"recjob-{uuid.uuid4().hex[:8]}"
    dag = job_dag(tmp_path, identifier)

    run = dag.test()

    tis = task_instances(run)
    assert run.state == "success", {task: ti.state for task, ti in tis.items()}
    job, runs, permissions = job_records(records, identifier)
    assert (job.created_by, job.created_by_email, job.interval_in_hours) == (
        "ada",
        "ada@example.com",
        24,
    )
    assert job.notebook_uri == f"s3://atmo-code/jobs/{identifier}/counts.ipynb"
    assert permissions == {"owner": ["view", "change", "delete"], "maintainers": True}
    [job_run] = runs
    result = tis["run_spark_job"].xcom_pull(task_ids="run_spark_job")
    assert (job_run.jobflow_id, job_run.step_id) == (result["job_flow_id"], result["step_id"])
    assert job_run.status == "TERMINATED"
    assert job_run.dag_run_id == run.run_id
    assert job_run.started_at <= job_run.finished_at
    assert job_run.scheduled_at is not None
    assert job_run.alerted is False
    assert mailbox(tmp_path / "mailbox.jsonl") == []


def test_failed_step_gives_a_failed_run_with_emrs_reason_and_one_alert(
    airflow_db, clean_embedded_aws, records, tmp_path
):
    from atmo_provider.provisioners import ClusterProvisioner, SparkJobProvisioner
    from atmo_provider.settings import get_settings
    from atmo_provider.sync import sync_with_emr

    identifier = f"recfail-{uuid.uuid4().hex[:8]}"
    clean_embedded_aws.control.add_fault(name_contains=identifier, fault="step_failed")
    dag = job_dag(tmp_path, identifier, retries=0)

    run = dag.test()
    settings = get_settings()
    clusters = ClusterProvisioner(settings)
    with session_scope(records) as session:
        sync_with_emr(
            session,
            clusters,
            SparkJobProvisioner(settings, emr=clusters.emr),
            datetime.datetime.now(UTC),
            settings,
        )

    tis = task_instances(run)
    assert run.state == "failed"
    assert (tis["run_spark_job"].state, tis["record_outcome"].state) == ("failed", "success")
    _job, [job_run], _permissions = job_records(records, identifier)
    assert job_run.status == "TERMINATED_WITH_ERRORS"
    assert job_run.status_reason_code == "STEP_FAILURE"
    assert job_run.status_reason_message == "Shut down as step failed"
    assert job_run.alerted is True
    [alert] = mailbox(tmp_path / "mailbox.jsonl")
    assert alert["to"] == "ada@example.com"
    assert alert["subject"] == f"Spark job {identifier} failed"
    assert "Shut down as step failed" in alert["html"]
