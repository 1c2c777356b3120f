"""The ``airflow atmo`` commands, run through Airflow's real command line."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

AIRFLOW = str(Path(sys.executable).with_name("airflow"))

VALID = """\
identifier: nightly
owner: ada
owner_email: ada@example.com
description: A nightly job.
notebook: nightly.ipynb
interval: daily
start_date: 2024-03-01
"""


@pytest.fixture
def specs(tmp_path: Path) -> Path:
    folder = tmp_path / "jobs"
    folder.mkdir()
    (folder / "nightly.ipynb").write_text(json.dumps({"nbformat": 4, "cells": []}))
    (folder / "nightly.yaml").write_text(VALID)
    return folder


def airflow(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    home = tmp_path / "airflow-home"
    home.mkdir(exist_ok=True)
    environment = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        **env,
    }
    return subprocess.run(
        [AIRFLOW, *args], env=environment, capture_output=True, text=True, timeout=120
    )


def test_validate_prints_count_and_succeeds_for_valid_specs(tmp_path, specs):
    result = airflow(tmp_path, "atmo", "jobs", "validate", str(specs))

    assert result.returncode == 0, result.stderr
    assert f"1 spec valid in {specs}" in result.stdout


def test_validate_fails_with_file_field_and_message_for_a_bad_spec(tmp_path, specs):
    (specs / "broken.yaml").write_text(
        VALID.replace("identifier: nightly", "identifier: other").replace("ada@", "ada-")
    )

    result = airflow(tmp_path, "atmo", "jobs", "validate", str(specs))

    assert result.returncode == 1
    assert f"{specs / 'broken.yaml'}: owner_email: must be an email address" in result.stdout
    assert "1 spec valid, 1 problem" in result.stderr


def test_validate_reads_the_configured_jobs_folder(tmp_path, specs):
    (specs / "nightly.yaml").write_text(VALID.replace("daily", "hourly"))

    result = airflow(tmp_path, "atmo", "jobs", "validate", AIRFLOW__ATMO__JOBS_FOLDER=str(specs))

    assert result.returncode == 1
    assert "nightly.yaml: interval: must be one of daily, weekly, monthly" in result.stdout


def test_validate_of_the_shipped_example_succeeds(tmp_path):
    result = airflow(tmp_path, "atmo", "jobs", "validate", str(ROOT / "dags" / "jobs"))

    assert result.returncode == 0, result.stdout + result.stderr


def test_validate_of_a_missing_folder_fails(tmp_path):
    result = airflow(tmp_path, "atmo", "jobs", "validate", str(tmp_path / "nowhere"))

    assert result.returncode == 1
    assert "no such folder" in result.stderr


def test_clusters_group_offers_list_extend_and_terminate(tmp_path):
    result = airflow(tmp_path, "atmo", "clusters", "--help")

    assert result.returncode == 0
    assert "list" in result.stdout
    assert "extend" in result.stdout
    assert "terminate" in result.stdout


def test_validate_checks_notebook_content(tmp_path, specs):
    (specs / "nightly.ipynb").write_text("{not json")

    result = airflow(tmp_path, "atmo", "jobs", "validate", str(specs))

    assert result.returncode == 1
    assert "nightly.yaml: notebook: " in result.stdout
    assert "is not valid JSON" in result.stdout


# Cluster commands against the embedded AWS, called as Airflow's parser would call them.


def start_cluster(aws, name: str) -> str:
    response = aws.client("emr").run_job_flow(
        Name=name,
        ReleaseLabel="emr-6.15.0",
        Instances={
            "MasterInstanceType": "c3.4xlarge",
            "InstanceCount": 1,
            "KeepJobFlowAliveWhenNoSteps": True,
        },
        JobFlowRole="EMR_EC2_DefaultRole",
        ServiceRole="EMR_DefaultRole",
    )
    return response["JobFlowId"]


def run_command(name: str, **arguments) -> None:
    import argparse

    from atmo_provider.cli import commands

    getattr(commands, name)(argparse.Namespace(**arguments))


@pytest.mark.integration
def test_clusters_list_prints_only_this_environments_clusters_as_json(
    clean_embedded_aws, tmp_path
):
    ours = start_cluster(clean_embedded_aws, "atmo-dev-cluster-ada-listed")
    theirs = start_cluster(clean_embedded_aws, "someone-elses-cluster")

    result = airflow(
        tmp_path,
        "atmo",
        "clusters",
        "list",
        "--from-emr",
        "--output",
        "json",
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
    )

    assert result.returncode == 0, result.stderr
    ids = [row["jobflow_id"] for row in json.loads(result.stdout)]
    assert ours in ids
    assert theirs not in ids


@pytest.mark.integration
def test_clusters_list_as_table_names_the_cluster(clean_embedded_aws, capsys):
    jobflow_id = start_cluster(clean_embedded_aws, "atmo-dev-cluster-ada-table")

    run_command("clusters_list", created_after="2020-01-01", output="table", verbose=False)

    assert jobflow_id in capsys.readouterr().out


@pytest.mark.integration
def test_clusters_list_refuses_a_bad_date(clean_embedded_aws, capsys):
    with pytest.raises(SystemExit):
        run_command("clusters_list", created_after="yesterday", output="json", verbose=False)

    assert "ISO date" in capsys.readouterr().err


@pytest.mark.integration
def test_clusters_terminate_ends_our_cluster(clean_embedded_aws, capsys):
    jobflow_id = start_cluster(clean_embedded_aws, "atmo-dev-cluster-ada-doomed")

    run_command("clusters_terminate", job_flow_id=jobflow_id)

    assert f"Cluster {jobflow_id} (atmo-dev-cluster-ada-doomed) was" in capsys.readouterr().out
    state = clean_embedded_aws.client("emr").describe_cluster(ClusterId=jobflow_id)
    assert state["Cluster"]["Status"]["State"] in ("TERMINATING", "TERMINATED")


@pytest.mark.integration
def test_clusters_terminate_leaves_other_clusters_alone(clean_embedded_aws, capsys):
    jobflow_id = start_cluster(clean_embedded_aws, "someone-elses-precious-cluster")

    with pytest.raises(SystemExit):
        run_command("clusters_terminate", job_flow_id=jobflow_id)

    assert "is not an ATMO cluster" in capsys.readouterr().err
    state = clean_embedded_aws.client("emr").describe_cluster(ClusterId=jobflow_id)
    assert state["Cluster"]["Status"]["State"] not in ("TERMINATING", "TERMINATED")


# Commands on the records.


@pytest.fixture
def records(tmp_path, monkeypatch):
    """A migrated SQLite records database behind ``atmo_default``; yields its URL and engine."""
    from atmo_provider.records.db import dispose_engines, engine_from_url
    from atmo_provider.records.migrate import migrate_engine

    url = f"sqlite:///{tmp_path / 'atmo.db'}"
    monkeypatch.setenv("AIRFLOW_CONN_ATMO_DEFAULT", url)
    engine = engine_from_url(url)
    migrate_engine(engine)
    yield url, engine
    dispose_engines()


def save(engine, record):
    from atmo_provider.records.db import session_scope

    with session_scope(engine) as session:
        return record.save(session)


def a_cluster(owner: str = "ada", **fields):
    from atmo_provider.records.models import Cluster

    values = {
        "identifier": f"{owner}-cluster",
        "created_by_email": f"{owner}@example.com",
        "emr_release": "6.15.0",
        "most_recent_status": "WAITING",
        "lifetime": 8,
    }
    values.update(fields)
    return Cluster(created_by=owner, **values)


def reloaded(engine, model, record_id):
    from atmo_provider.records.db import session_scope

    with session_scope(engine) as session:
        return session.get(model, record_id)


def airflow_on_records(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``airflow`` on the records at ``url``, with nothing but the command's output."""
    return airflow(
        tmp_path, *args, AIRFLOW_CONN_ATMO_DEFAULT=url, AIRFLOW__CORE__UNIT_TEST_MODE="False"
    )


def run_records_command(name: str, **arguments) -> None:
    import argparse

    from atmo_provider.cli import records_commands

    arguments.setdefault("conn_id", None)
    getattr(records_commands, name)(argparse.Namespace(**arguments))


def test_clusters_list_prints_the_records_as_json(tmp_path, records):
    url, engine = records
    waiting = save(engine, a_cluster("ada", jobflow_id="j-ADA"))
    ended = save(engine, a_cluster("bob", most_recent_status="TERMINATED"))

    result = airflow_on_records(
        tmp_path,
        url,
        "atmo",
        "clusters",
        "list",
        "--state",
        "all",
        "--output",
        "json",
    )

    assert result.returncode == 0, result.stderr
    rows = {row["id"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {waiting.id, ended.id}
    assert rows[waiting.id]["jobflow_id"] == "j-ADA"
    assert rows[waiting.id]["owner"] == "ada"
    assert rows[ended.id]["status"] == "TERMINATED"


def test_clusters_list_shows_active_clusters_by_default(records, capsys):
    _url, engine = records
    save(engine, a_cluster("ada"))
    save(engine, a_cluster("bob", most_recent_status="TERMINATED_WITH_ERRORS"))

    run_records_command(
        "clusters_list",
        user=None,
        state="active",
        created_after=None,
        from_emr=False,
        output="json",
        verbose=False,
    )

    assert [row["owner"] for row in json.loads(capsys.readouterr().out)] == ["ada"]


def test_clusters_list_for_a_user_shows_only_their_own(records, capsys):
    _url, engine = records
    save(engine, a_cluster("ada"))
    save(engine, a_cluster("bob"))

    run_records_command(
        "clusters_list",
        user="bob",
        state="all",
        created_after=None,
        from_emr=False,
        output="json",
        verbose=False,
    )

    assert [row["owner"] for row in json.loads(capsys.readouterr().out)] == ["bob"]


def test_clusters_list_without_migrated_records_says_what_to_run(tmp_path):
    result = airflow(
        tmp_path,
        "atmo",
        "clusters",
        "list",
        AIRFLOW_CONN_ATMO_DEFAULT=f"sqlite:///{tmp_path / 'empty.db'}",
    )

    assert result.returncode == 1
    assert "run `airflow atmo db migrate` first" in result.stderr


def test_extend_moves_the_expiry_counts_and_rearms_the_warning(tmp_path, records):
    from atmo_provider.records.models import Cluster

    url, engine = records
    cluster = save(engine, a_cluster("ada", jobflow_id="j-EXT", expiration_mail_sent=True))

    result = airflow_on_records(
        tmp_path,
        url,
        "atmo",
        "clusters",
        "extend",
        "j-EXT",
        "--hours",
        "4",
        "--user",
        "ada",
    )

    assert result.returncode == 0, result.stderr
    extended = reloaded(engine, Cluster, cluster.id)
    assert extended.expires_at == cluster.expires_at + datetime.timedelta(hours=4)
    assert extended.lifetime_extension_count == 1
    assert extended.expiration_mail_sent is False
    assert f"Cluster {cluster.id} (ada-cluster, j-EXT) now expires at" in result.stdout


def test_an_id_too_large_for_the_database_is_not_found(records, capsys):
    with pytest.raises(SystemExit):
        run_records_command("clusters_extend", cluster="9" * 20, hours="4", user=None)

    assert capsys.readouterr().err.splitlines()[-1] == f"Cluster {'9' * 20} not found"


def test_extend_by_a_user_without_change_permission_says_not_found(records, capsys):
    from atmo_provider.records.models import Cluster

    _url, engine = records
    cluster = save(engine, a_cluster("ada"))

    with pytest.raises(SystemExit):
        run_records_command("clusters_extend", cluster=str(cluster.id), hours="4", user="bob")
    forbidden = capsys.readouterr().err.splitlines()[-1]
    with pytest.raises(SystemExit):
        run_records_command("clusters_extend", cluster="9999", hours="4", user="bob")
    missing = capsys.readouterr().err.splitlines()[-1]

    assert forbidden.replace(str(cluster.id), "N") == missing.replace("9999", "N")
    assert "not found that bob may act on" in forbidden
    assert reloaded(engine, Cluster, cluster.id).lifetime_extension_count == 0


@pytest.mark.parametrize("hours", ["1", "25", "two"])
def test_extend_outside_the_allowed_hours_is_refused(records, capsys, hours):
    _url, engine = records
    cluster = save(engine, a_cluster("ada"))

    with pytest.raises(SystemExit):
        run_records_command("clusters_extend", cluster=str(cluster.id), hours=hours, user=None)

    assert "--hours must be a whole number of hours from 2 to 24" in capsys.readouterr().err


def test_extend_of_a_terminated_cluster_is_refused(records, capsys):
    _url, engine = records
    cluster = save(engine, a_cluster("ada", most_recent_status="TERMINATED"))

    with pytest.raises(SystemExit):
        run_records_command("clusters_extend", cluster=str(cluster.id), hours="4", user="ada")

    assert "Only active clusters can be extended" in capsys.readouterr().err


@pytest.mark.integration
def test_terminate_by_record_id_ends_the_cluster_and_marks_it(clean_embedded_aws, records, capsys):
    from atmo_provider.records.models import Cluster

    _url, engine = records
    jobflow_id = start_cluster(clean_embedded_aws, "atmo-dev-cluster-ada-recorded")
    cluster = save(engine, a_cluster("ada", jobflow_id=jobflow_id))

    run_records_command("clusters_terminate", job_flow_id=str(cluster.id), user="ada")

    assert f"Cluster {cluster.id} ({jobflow_id}) is terminating" in capsys.readouterr().out
    assert reloaded(engine, Cluster, cluster.id).most_recent_status == "TERMINATING"
    state = clean_embedded_aws.client("emr").describe_cluster(ClusterId=jobflow_id)
    assert state["Cluster"]["Status"]["State"] in ("TERMINATING", "TERMINATED")


@pytest.mark.integration
def test_terminate_by_a_user_without_delete_permission_leaves_the_cluster(
    clean_embedded_aws, records, capsys
):
    _url, engine = records
    jobflow_id = start_cluster(clean_embedded_aws, "atmo-dev-cluster-ada-kept")
    save(engine, a_cluster("ada", jobflow_id=jobflow_id))

    with pytest.raises(SystemExit):
        run_records_command("clusters_terminate", job_flow_id=jobflow_id, user="bob")

    assert f"Cluster {jobflow_id} not found that bob may act on" in capsys.readouterr().err
    state = clean_embedded_aws.client("emr").describe_cluster(ClusterId=jobflow_id)
    assert state["Cluster"]["Status"]["State"] not in ("TERMINATING", "TERMINATED")


@pytest.mark.integration
def test_terminate_of_an_unrecorded_job_flow_still_works(clean_embedded_aws, records, capsys):
    jobflow_id = start_cluster(clean_embedded_aws, "atmo-dev-cluster-ada-unrecorded")

    run_records_command("clusters_terminate", job_flow_id=jobflow_id, user=None)

    assert f"Cluster {jobflow_id} (atmo-dev-cluster-ada-unrecorded) was" in capsys.readouterr().out


def a_job(identifier: str, owner: str = "ada"):
    from atmo_provider.records.models import SparkJob

    return SparkJob(
        identifier=identifier,
        created_by=owner,
        created_by_email=f"{owner}@example.com",
        description="Counts things.",
        start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    )


def add_run(engine, job, status: str) -> None:
    from atmo_provider.records.db import session_scope
    from atmo_provider.records.models import SparkJobRun

    with session_scope(engine) as session:
        session.add(SparkJobRun(spark_job_id=job.id, status=status, dag_run_id="manual__1"))


def test_jobs_list_prints_jobs_with_their_latest_run_as_json(tmp_path, records):
    url, engine = records
    job = save(engine, a_job("nightly"))
    add_run(engine, job, "TERMINATED_WITH_ERRORS")
    add_run(engine, job, "TERMINATED")
    save(engine, a_job("weekly", owner="bob"))

    result = airflow_on_records(tmp_path, url, "atmo", "jobs", "list", "--output", "json")

    assert result.returncode == 0, result.stderr
    rows = {row["identifier"]: row for row in json.loads(result.stdout)}
    assert rows["nightly"]["last_run"] == "TERMINATED"
    assert rows["weekly"]["last_run"] is None
    assert rows["weekly"]["owner"] == "bob"


def test_jobs_list_for_a_user_shows_what_they_may_view(records, capsys):
    _url, engine = records
    save(engine, a_job("nightly"))
    save(engine, a_job("weekly", owner="bob"))

    run_records_command("jobs_list", user="bob", all=False, output="json", verbose=False)

    assert [row["identifier"] for row in json.loads(capsys.readouterr().out)] == ["weekly"]


@pytest.fixture
def job_dag_in_airflow(airflow_db, tmp_path):
    """Register the DAG of a job ``cli-<hex>`` in Airflow's database; yield its identifier."""
    import uuid

    from atmo_provider.jobs.dags import build_job_dag
    from atmo_provider.jobs.spec import JobSpec
    from atmo_provider.settings import AtmoSettings
    from tests.integration.helpers_aws import register_dag

    identifier = f"cli-{uuid.uuid4().hex[:8]}"
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text(json.dumps({"nbformat": 4, "cells": []}))
    spec = JobSpec(
        identifier=identifier,
        owner="ada",
        owner_email="ada@example.com",
        description="Counts things.",
        notebook_path=str(notebook),
        interval="daily",
        start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
        source_file=str(tmp_path / "spec.yaml"),
    )
    register_dag(build_job_dag(spec, AtmoSettings()))
    return identifier


def dag_runs(dag_id: str) -> list:
    from airflow.models import DagRun

    return DagRun.find(dag_id=dag_id)


def test_jobs_run_triggers_the_jobs_dag_for_the_user(records, job_dag_in_airflow, capsys):
    _url, engine = records
    save(engine, a_job(job_dag_in_airflow))

    run_records_command("jobs_run", identifier=job_dag_in_airflow, user="ada")

    [run] = dag_runs(f"atmo_job_{job_dag_in_airflow}")
    assert run.triggering_user_name == "ada"
    assert f"Triggered {run.run_id} of atmo_job_{job_dag_in_airflow} for ada" in (
        capsys.readouterr().out
    )


def test_jobs_run_waits_for_the_last_run_to_finish(records, job_dag_in_airflow, capsys):
    _url, engine = records
    job = save(engine, a_job(job_dag_in_airflow))
    add_run(engine, job, "PENDING")

    with pytest.raises(SystemExit):
        run_records_command("jobs_run", identifier=job_dag_in_airflow, user=None)

    assert "has not finished (PENDING)" in capsys.readouterr().err
    assert dag_runs(f"atmo_job_{job_dag_in_airflow}") == []


def test_jobs_run_refuses_while_a_dag_run_is_queued(records, job_dag_in_airflow, capsys):
    _url, engine = records
    save(engine, a_job(job_dag_in_airflow))
    run_records_command("jobs_run", identifier=job_dag_in_airflow, user=None)

    with pytest.raises(SystemExit):
        run_records_command("jobs_run", identifier=job_dag_in_airflow, user=None)

    assert "is queued or running" in capsys.readouterr().err
    assert len(dag_runs(f"atmo_job_{job_dag_in_airflow}")) == 1


def test_jobs_run_by_a_user_who_may_not_view_it_says_not_found(records, capsys):
    _url, engine = records
    save(engine, a_job("private-job"))

    with pytest.raises(SystemExit):
        run_records_command("jobs_run", identifier="private-job", user="mallory")

    assert "Spark job private-job not found that mallory may act on" in capsys.readouterr().err
