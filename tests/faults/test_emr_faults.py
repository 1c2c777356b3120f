"""EMR ends a Spark job's cluster or step badly: the task fails with EMR's reason, the run
record says failed, and the owner is alerted once even when the sync runs again."""

from __future__ import annotations

import datetime
import uuid

import pytest

from atmo_provider.records.db import session_scope
from tests.integration.test_records_dags import job_dag, job_records, mailbox, task_instances

pytestmark = pytest.mark.integration

UTC = datetime.timezone.utc


def _sync(engine) -> dict:
    from atmo_provider.provisioners import ClusterProvisioner, SparkJobProvisioner
    from atmo_provider.settings import get_settings
    from atmo_provider.sync import sync_with_emr

    settings = get_settings()
    clusters = ClusterProvisioner(settings)
    with session_scope(engine) as session:
        return sync_with_emr(
            session,
            clusters,
            SparkJobProvisioner(settings, emr=clusters.emr),
            datetime.datetime.now(UTC),
            settings,
        )


def _run_with_fault(aws, engine, tmp_path, capfd, fault: str):
    identifier = f"fault-{fault.replace('_', '-')}-{uuid.uuid4().hex[:6]}"
    aws.control.add_fault(name_contains=identifier, fault=fault)
    dag = job_dag(tmp_path, identifier, retries=0)

    run = dag.test()
    task_log = "".join(capfd.readouterr())
    _sync(engine)
    _sync(engine)

    _job, [job_run], _permissions = job_records(engine, identifier)
    return identifier, run, task_log, job_run


@pytest.mark.parametrize(
    ("fault", "code", "words"),
    [
        ("bootstrap_failure", "BOOTSTRAP_FAILURE", "bootstrap action 1 returned a non-zero"),
        ("terminated_with_errors", "INTERNAL_ERROR", "could not start because of an internal"),
    ],
)
def test_a_job_cluster_ending_with_errors_fails_the_run_with_emrs_reason_and_alerts_once(
    airflow_db, clean_embedded_aws, records, tmp_path, capfd, fault, code, words
):
    identifier, run, task_log, job_run = _run_with_fault(
        clean_embedded_aws, records, tmp_path, capfd, fault
    )

    tis = task_instances(run)
    assert run.state == "failed"
    assert (tis["run_spark_job"].state, tis["record_outcome"].state) == ("failed", "success")
    assert words in task_log
    assert (job_run.status, job_run.status_reason_code) == ("TERMINATED_WITH_ERRORS", code)
    assert job_run.is_failed and job_run.alerted
    [alert] = mailbox(tmp_path / "mailbox.jsonl")
    assert alert["subject"] == f"Spark job {identifier} failed"


def test_a_cancelled_step_fails_the_task_and_alerts_the_owner_once(
    airflow_db, clean_embedded_aws, records, tmp_path, capfd
):
    identifier, run, task_log, job_run = _run_with_fault(
        clean_embedded_aws, records, tmp_path, capfd, "step_cancelled"
    )

    tis = task_instances(run)
    assert (tis["run_spark_job"].state, tis["record_outcome"].state) == ("failed", "success")
    assert "CANCELLED" in task_log
    assert job_run.alerted is True
    [alert] = mailbox(tmp_path / "mailbox.jsonl")
    assert alert["subject"] == f"Spark job {identifier} failed"


def test_a_cancelled_step_is_recorded_as_a_failed_run(
    airflow_db, clean_embedded_aws, records, tmp_path, capfd
):
    _identifier, _run, _task_log, job_run = _run_with_fault(
        clean_embedded_aws, records, tmp_path, capfd, "step_cancelled"
    )

    assert job_run.is_failed
    assert job_run.status_reason_code == "STEP_FAILURE"
    assert "CANCELLED" in job_run.status_reason_message
