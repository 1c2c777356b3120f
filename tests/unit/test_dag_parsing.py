"""The DAG files: they parse cheaply, and the DAGs have the tasks, schedule and retries wanted."""

from __future__ import annotations

import datetime
import json
import logging
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from airflow.sdk import DeltaTriggerTimetable

from atmo_provider.jobs.dags import STARTUP_MARGIN, build_job_dag, build_job_dags
from atmo_provider.jobs.spec import JobSpec, SpecError
from atmo_provider.retry_policy import FullJitterRetryPolicy
from atmo_provider.settings import AtmoSettings
from tests.conftest import ROOT

UTC = datetime.timezone.utc
DAGS = ROOT / "dags"
SETTINGS = AtmoSettings(emr_releases=("6.15.0", "5.36.2"), aws_conn_id="aws_atmo")


def job_spec(**changes) -> JobSpec:
    values = {
        "identifier": "weekly-report",
        "owner": "ada",
        "owner_email": "ada@example.com",
        "description": "Weekly report.\n\nCounts **everything**.",
        "notebook_path": str(DAGS / "jobs" / "notebooks" / "example.ipynb"),
        "interval": "weekly",
        "start_date": datetime.datetime(2030, 1, 6, 6, tzinfo=UTC),
        "source_file": "jobs/weekly.yaml",
        "size": 4,
        "timeout": 3,
        "end_date": datetime.datetime(2031, 1, 1, tzinfo=UTC),
        "result_visibility": "public",
    }
    values.update(changes)
    return JobSpec(**values)


def dagbag(folder: Path):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(folder))


# Import cost.


@pytest.mark.parametrize(
    "dag_file", ["atmo_launch_cluster.py", "atmo_spark_jobs.py", "atmo_sync.py"]
)
def test_dag_file_imports_no_heavy_libraries(dag_file):
    code = textwrap.dedent(
        f"""
        import runpy, sys
        runpy.run_path({str(DAGS / dag_file)!r})
        heavy = [m for m in ("boto3", "botocore", "pandas", "pyspark") if m in sys.modules]
        print("heavy modules:", ",".join(heavy))
        """
    )

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].strip() == "heavy modules:"


# The shipped DAG folder.


def test_dag_folder_has_no_import_errors():
    bag = dagbag(DAGS)

    assert bag.import_errors == {}
    assert "atmo_launch_cluster" in bag.dag_ids
    assert "atmo_job_example-spark-job" in bag.dag_ids


# The launch DAG.


@pytest.fixture(scope="module")
def launch_dag():
    return dagbag(DAGS).dags["atmo_launch_cluster"]


def test_launch_dag_runs_only_when_triggered(launch_dag):
    from airflow.sdk.definitions.timetables.simple import NullTimetable

    assert isinstance(launch_dag.timetable, NullTimetable)


def test_launch_dag_validates_creates_records_then_waits(launch_dag):
    validate = launch_dag.get_task("validate_request")
    create = launch_dag.get_task("create_cluster")
    record = launch_dag.get_task("record_cluster")
    wait = launch_dag.get_task("wait_until_ready")

    assert validate.downstream_task_ids == {"create_cluster", "record_cluster"}
    assert create.downstream_task_ids == {"record_cluster", "wait_until_ready"}
    assert record.downstream_task_ids == {"wait_until_ready"}
    assert wait.downstream_task_ids == {"record_ready"}
    assert wait.deferrable is True


def test_launch_tasks_retry_with_full_jitter(launch_dag):
    for task in launch_dag.tasks:
        assert task.retries == 3
        assert isinstance(task.retry_policy, FullJitterRetryPolicy)


def test_launch_dag_has_the_launch_params(launch_dag):
    assert set(launch_dag.params) == {
        "identifier",
        "size",
        "lifetime",
        "ssh_public_key",
        "emr_release",
        "owner",
        "owner_email",
    }


def test_launch_dag_serializes(launch_dag):
    from airflow.serialization.serialized_objects import DagSerialization

    again = DagSerialization.from_dict(DagSerialization.to_dict(launch_dag))

    assert again.task_ids == launch_dag.task_ids


# Job DAGs.


def test_job_dag_id_tags_owner_and_doc():
    dag = build_job_dag(job_spec(), SETTINGS)

    assert dag.dag_id == "atmo_job_weekly-report"
    assert set(dag.tags) == {"atmo", "spark-job"}
    assert dag.owner == "ada"
    assert dag.description == "Weekly report."
    assert "Counts **everything**." in dag.doc_md


def test_job_dag_runs_every_interval_from_start_date_without_catchup():
    dag = build_job_dag(job_spec(), SETTINGS)

    assert isinstance(dag.timetable, DeltaTriggerTimetable)
    assert dag.timetable == DeltaTriggerTimetable(datetime.timedelta(hours=168))
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert dag.start_date == datetime.datetime(2030, 1, 6, 6, tzinfo=UTC)
    assert dag.end_date == datetime.datetime(2031, 1, 1, tzinfo=UTC)


def test_future_start_date_gives_runs_at_start_plus_whole_intervals():
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.timetables.base import TimeRestriction

    dag = DagSerialization.from_dict(DagSerialization.to_dict(build_job_dag(job_spec(), SETTINGS)))
    restriction = TimeRestriction(earliest=dag.start_date, latest=dag.end_date, catchup=False)

    runs, last = [], None
    for _ in range(3):
        info = dag.timetable.next_dagrun_info(
            last_automated_data_interval=last, restriction=restriction
        )
        runs.append(info.run_after)
        last = info.data_interval

    start = datetime.datetime(2030, 1, 6, 6, tzinfo=UTC)
    week = datetime.timedelta(days=7)
    assert runs == [start, start + week, start + 2 * week]


def test_job_dag_uploads_then_runs_the_notebook():
    dag = build_job_dag(job_spec(), SETTINGS)
    upload = dag.get_task("upload_notebook")
    run = dag.get_task("run_spark_job")

    assert upload.downstream_task_ids == {"run_spark_job"}
    assert upload.notebook_path == job_spec().notebook_path
    assert run.notebook_uri.operator is upload
    assert (run.size, run.job_timeout, run.result_visibility) == (4, 3, "public")
    assert run.aws_conn_id == "aws_atmo"


def test_job_run_timeout_is_job_timeout_plus_startup_margin():
    run = build_job_dag(job_spec(timeout=3), SETTINGS).get_task("run_spark_job")

    assert run.execution_timeout == datetime.timedelta(hours=3) + STARTUP_MARGIN


def test_job_without_release_uses_the_default_release():
    run = build_job_dag(job_spec(emr_release=None), SETTINGS).get_task("run_spark_job")

    assert run.emr_release == "6.15.0"


def test_job_tasks_retry_with_full_jitter():
    for task in build_job_dag(job_spec(), SETTINGS).tasks:
        assert task.retries > 0
        assert isinstance(task.retry_policy, FullJitterRetryPolicy)


def test_paused_spec_starts_paused():
    assert build_job_dag(job_spec(paused=True), SETTINGS).is_paused_upon_creation is True


def test_job_dag_serializes():
    from airflow.serialization.serialized_objects import DagSerialization

    dag = build_job_dag(job_spec(), SETTINGS)
    again = DagSerialization.from_dict(DagSerialization.to_dict(dag))

    assert set(again.task_ids) == {
        "record_run",
        "upload_notebook",
        "run_spark_job",
        "record_outcome",
    }


def test_job_dag_records_the_run_first_and_its_outcome_last():
    dag = build_job_dag(job_spec(), SETTINGS)
    start = dag.get_task("record_run")
    finish = dag.get_task("record_outcome")

    assert start.downstream_task_ids == {"upload_notebook", "record_outcome"}
    assert dag.get_task("run_spark_job").downstream_task_ids == {"record_outcome"}
    assert finish.downstream_task_ids == set()
    assert start.op_kwargs["spec"] == job_spec()


def test_job_outcome_runs_whatever_the_job_did_without_deciding_the_runs_state():
    dag = build_job_dag(job_spec(), SETTINGS)
    start = dag.get_task("record_run")
    finish = dag.get_task("record_outcome")

    assert start.is_setup and finish.is_teardown
    assert finish.trigger_rule == "all_done_setup_success"
    assert finish.on_failure_fail_dagrun is False


def test_building_a_job_dag_reads_no_database_and_calls_no_aws(monkeypatch):
    import atmo_provider.records.db as records_db

    def refuse(*_args, **_kwargs):
        raise AssertionError("DAG parsing touched the records database")

    monkeypatch.setattr(records_db, "get_engine", refuse)

    dag = build_job_dag(job_spec(), SETTINGS)

    assert len(dag.tasks) == 4


def test_spec_errors_are_logged_with_file_and_field(caplog):
    error = SpecError("jobs/bad.yaml", "size", "must be a whole number from 1 to 30, got 99")

    with caplog.at_level(logging.ERROR, logger="atmo_provider.jobs.dags"):
        dags = build_job_dags([job_spec()], [error], SETTINGS)

    assert list(dags) == ["atmo_job_weekly-report"]
    assert "jobs/bad.yaml skipped: size: must be a whole number" in caplog.text


# A DAG folder with a bad spec.


def test_invalid_spec_is_skipped_and_the_others_load(tmp_path, caplog):
    shutil.copy(DAGS / "atmo_spark_jobs.py", tmp_path)
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "nb.ipynb").write_text(json.dumps({"nbformat": 4, "cells": []}))
    spec = textwrap.dedent(
        """\
        identifier: {identifier}
        owner: ada
        owner_email: ada@example.com
        description: A job.
        notebook: nb.ipynb
        interval: daily
        start_date: 2024-01-01
        size: {size}
        """
    )
    (jobs / "a.yaml").write_text(spec.format(identifier="first", size=1))
    (jobs / "b.yaml").write_text(spec.format(identifier="second", size=99))
    (jobs / "c.yaml").write_text(spec.format(identifier="third", size=2))

    with caplog.at_level(logging.ERROR):
        bag = dagbag(tmp_path)

    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == ["atmo_job_first", "atmo_job_third"]
    assert f"{jobs / 'b.yaml'} skipped: size:" in caplog.text


# The sync DAG.


@pytest.fixture(scope="module")
def sync_dag():
    return dagbag(DAGS).dags["atmo_sync"]


def test_sync_dag_runs_every_five_minutes_one_run_at_a_time(sync_dag):
    from airflow.sdk import CronTriggerTimetable

    assert sync_dag.timetable == CronTriggerTimetable("*/5 * * * *", timezone="UTC")
    assert sync_dag.catchup is False
    assert sync_dag.max_active_runs == 1


def test_sync_tasks_are_independent_and_retry_with_full_jitter(sync_dag):
    assert set(sync_dag.task_ids) == {"sync_with_emr", "sync_with_specs", "expire_clusters"}
    for task in sync_dag.tasks:
        assert task.upstream_task_ids == set()
        assert task.retries == 3
        assert isinstance(task.retry_policy, FullJitterRetryPolicy)


def test_sync_dag_starts_unpaused_so_that_clusters_expire(sync_dag):
    assert sync_dag.is_paused_upon_creation is False
