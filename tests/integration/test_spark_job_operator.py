"""Spark job operators against the embedded AWS: results on success, EMR's reason on failure."""

from __future__ import annotations

import asyncio
import gzip
import json
from datetime import datetime, timezone

import pytest

from atmo_provider.errors import AtmoValidationError, EmrFailure
from atmo_provider.provisioners import SparkJobProvisioner
from atmo_provider.settings import AtmoSettings
from tests.integration.helpers_aws import (
    POLL,
    clusters_named,
    run_dag,
    run_in_thread,
    state_of,
    task_context,
    task_states,
    wait_for_link,
    wait_for_state,
)

pytestmark = pytest.mark.integration

START = datetime(2024, 1, 1, tzinfo=timezone.utc)
GOING_OR_GONE = {"TERMINATING", "TERMINATED"}
LOGICAL_DATE = datetime(2024, 5, 17, 6, 0, tzinfo=timezone.utc)


def _notebook_file(tmp_path, name="counts.ipynb"):
    path = tmp_path / name
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


def _upload_notebook(embedded, identifier: str) -> str:
    key = f"jobs/{identifier}/counts.ipynb"
    embedded.client("s3").put_object(Bucket="atmo-code", Key=key, Body=b'{"nbformat": 4}')
    return f"s3://atmo-code/{key}"


def _job_operator(identifier: str, notebook_uri: str, **kwargs):
    from atmo_provider.operators.spark_job import AtmoSparkJobOperator

    kwargs.setdefault("deferrable", False)
    return AtmoSparkJobOperator(
        task_id="run_job",
        identifier=identifier,
        owner="jdoe",
        owner_email="jdoe@example.com",
        notebook_uri=notebook_uri,
        job_timeout=1,
        poll_interval=POLL,
        **kwargs,
    )


def _job_name(identifier: str) -> str:
    return f"atmo-dev-job-jdoe-{identifier}"


def _run_job(embedded, identifier: str, **kwargs):
    operator = _job_operator(identifier, _upload_notebook(embedded, identifier), **kwargs)
    context = task_context(f"atmo_job_{identifier}", "run_job", logical_date=LOGICAL_DATE)
    return operator, context


def test_a_job_dag_uploads_the_notebook_and_returns_the_results_location(
    airflow_db, clean_embedded_aws, tmp_path
):
    from airflow.sdk import DAG

    from atmo_provider.operators.spark_job import (
        AtmoSparkJobOperator,
        AtmoUploadNotebookOperator,
    )

    notebook = _notebook_file(tmp_path)
    with DAG("atmo_test_job_success", schedule=None, start_date=START) as dag:
        upload = AtmoUploadNotebookOperator(
            task_id="upload", identifier="good-job-1", notebook_path=str(notebook)
        )
        AtmoSparkJobOperator(
            task_id="run_job",
            identifier="good-job-1",
            owner="jdoe",
            owner_email="jdoe@example.com",
            notebook_uri=upload.output,
            job_timeout=1,
            poll_interval=POLL,
        )
        upload >> dag.get_task("run_job")

    run = run_dag(dag)

    assert run.state == "success", task_states(run)
    [ti] = [ti for ti in run.get_task_instances() if ti.task_id == "run_job"]
    result = ti.xcom_pull(task_ids="run_job")
    run_date = run.logical_date.astimezone(timezone.utc).date().isoformat()
    assert result["results_uri"] == f"s3://atmo-private-data/good-job-1/{run_date}/"
    assert result["step_id"].startswith("s-")
    assert state_of(clean_embedded_aws.client("emr"), result["job_flow_id"]) == "TERMINATED"
    uploaded = clean_embedded_aws.client("s3").get_object(
        Bucket="atmo-code", Key="jobs/good-job-1/counts.ipynb"
    )
    assert json.loads(uploaded["Body"].read())["nbformat"] == 4


def test_a_failed_step_fails_the_deferred_task_and_ends_the_cluster(
    airflow_db, clean_embedded_aws
):
    from airflow.sdk import DAG

    from atmo_provider.operators.spark_job import AtmoSparkJobOperator

    clean_embedded_aws.control.add_fault(name_contains="bad-dag-job-1", fault="step_failed")
    notebook_uri = _upload_notebook(clean_embedded_aws, "bad-dag-job-1")
    with DAG("atmo_test_job_failure", schedule=None, start_date=START) as dag:
        AtmoSparkJobOperator(
            task_id="run_job",
            identifier="bad-dag-job-1",
            owner="jdoe",
            owner_email="jdoe@example.com",
            notebook_uri=notebook_uri,
            poll_interval=POLL,
        )

    run = run_dag(dag)

    assert task_states(run)["run_job"] == "failed"
    [cluster] = clusters_named(clean_embedded_aws.client("emr"), _job_name("bad-dag-job-1"))
    assert cluster["Status"]["State"] == "TERMINATED_WITH_ERRORS"


def test_a_completed_step_returns_job_step_and_results(clean_embedded_aws):
    operator, context = _run_job(clean_embedded_aws, "sync-job-1", result_visibility="public")

    result = operator.execute(context)

    assert result["results_uri"] == "s3://atmo-public-data/sync-job-1/2024-05-17/"
    emr = clean_embedded_aws.client("emr")
    [step] = emr.list_steps(ClusterId=result["job_flow_id"])["Steps"]
    assert (step["Id"], step["Status"]["State"]) == (result["step_id"], "COMPLETED")
    assert step["Config"]["Args"][-2:] == ["--run-date", "2024-05-17"]


def test_a_failed_step_raises_emrs_reason_and_the_log_location(clean_embedded_aws):
    clean_embedded_aws.control.add_fault(name_contains="failing-job-1", fault="step_failed")
    operator, context = _run_job(clean_embedded_aws, "failing-job-1")

    with pytest.raises(EmrFailure) as raised:
        operator.execute(context)

    message = str(raised.value)
    assert "Spark job failing-job-1 failed on cluster j-" in message
    assert "ended FAILED: Unknown Error; The step script exited with status 1" in message
    assert "TERMINATED_WITH_ERRORS (STEP_FAILURE" in message
    assert "Cluster logs: s3://atmo-logs/jobs/failing-job-1/" in message
    assert raised.value.reason_code == "STEP_FAILURE"


def test_a_cancelled_step_fails_the_job(clean_embedded_aws):
    clean_embedded_aws.control.add_fault(name_contains="cancelled-job-1", fault="step_cancelled")
    operator, context = _run_job(clean_embedded_aws, "cancelled-job-1")

    with pytest.raises(EmrFailure, match="ended CANCELLED: Cancelled by user request"):
        operator.execute(context)


def test_a_cluster_terminated_with_errors_fails_the_job_with_its_reason(clean_embedded_aws):
    clean_embedded_aws.control.add_fault(
        name_contains="broken-job-1", fault="terminated_with_errors"
    )
    operator, context = _run_job(clean_embedded_aws, "broken-job-1")

    with pytest.raises(EmrFailure) as raised:
        operator.execute(context)

    assert raised.value.reason_code == "INTERNAL_ERROR"
    assert "could not start because of an internal error" in str(raised.value)


def test_a_failure_says_where_the_steps_stderr_will_be(clean_embedded_aws):
    clean_embedded_aws.control.add_fault(name_contains="stderr-job-1", fault="step_failed")
    operator, context = _run_job(clean_embedded_aws, "stderr-job-1")

    with pytest.raises(EmrFailure) as raised:
        operator.execute(context)

    jobflow_id = context["ti"].xcoms["atmo_emr_cluster"]["job_flow_id"]
    assert "The step's stderr is not in s3://atmo-logs/jobs/stderr-job-1/" in str(raised.value)
    assert f"/{jobflow_id}/steps/s-" in str(raised.value)


def test_failure_details_quote_the_tail_of_the_steps_stderr_from_s3(clean_embedded_aws):
    from atmo_provider.operators.job_outcome import describe_failure

    clean_embedded_aws.control.add_fault(name_contains="stderr-job-2", fault="step_failed")
    operator, context = _run_job(clean_embedded_aws, "stderr-job-2")
    with pytest.raises(EmrFailure):
        operator.execute(context)
    jobflow_id = context["ti"].xcoms["atmo_emr_cluster"]["job_flow_id"]
    provisioner = SparkJobProvisioner(AtmoSettings())
    bucket, key = provisioner.step_failure_details(jobflow_id)["stderr_log_uri"][5:].split("/", 1)
    lines = [f"line {n}" for n in range(100)] + ["NameError: name 'spark' is not defined"]
    clean_embedded_aws.client("s3").put_object(
        Bucket=bucket, Key=key, Body=gzip.compress("\n".join(lines).encode())
    )

    details = provisioner.step_failure_details(jobflow_id)

    assert details["stderr_tail"].endswith("NameError: name 'spark' is not defined")
    assert "line 0\n" not in details["stderr_tail"]
    assert "NameError: name 'spark' is not defined" in describe_failure("stderr-job-2", details)


def test_a_missing_notebook_is_refused_before_any_launch(clean_embedded_aws):
    operator = _job_operator("no-notebook-1", "s3://atmo-code/jobs/no-notebook-1/absent.ipynb")
    context = task_context("atmo_job_no_notebook", "run_job")

    with pytest.raises(AtmoValidationError, match="absent.ipynb does not exist"):
        operator.execute(context)

    assert "RunJobFlow" not in clean_embedded_aws.control.call_counts().get("emr", {})


def test_a_retry_after_completion_returns_the_earlier_result_without_a_new_cluster(
    clean_embedded_aws,
):
    operator, context = _run_job(clean_embedded_aws, "rerun-job-1")
    first = operator.execute(context)

    second = _job_operator("rerun-job-1", operator.notebook_uri).execute(context)

    assert second == first
    assert len(clusters_named(clean_embedded_aws.client("emr"), _job_name("rerun-job-1"))) == 1


def test_a_cleared_run_runs_the_job_again(clean_embedded_aws):
    operator, context = _run_job(clean_embedded_aws, "cleared-job-1")
    first = operator.execute(context)
    context["dag_run"].clear_number = 1

    second = _job_operator("cleared-job-1", operator.notebook_uri).execute(context)

    assert second["job_flow_id"] != first["job_flow_id"]


def test_a_refusal_of_spot_capacity_runs_the_job_on_demand(clean_embedded_aws):
    clean_embedded_aws.control.add_fault(name_contains="spot-job-1", fault="spot_capacity_refused")
    operator, context = _run_job(clean_embedded_aws, "spot-job-1", size=2)

    result = operator.execute(context)

    emr = clean_embedded_aws.client("emr")
    assert len(clusters_named(emr, _job_name("spot-job-1"))) == 2
    groups = emr.list_instance_groups(ClusterId=result["job_flow_id"])["InstanceGroups"]
    assert {group["Market"] for group in groups} == {"ON_DEMAND"}


def test_a_deferral_timeout_terminates_the_jobs_cluster(clean_embedded_aws):
    from airflow.sdk.bases.operator import TriggerFailureReason
    from airflow.sdk.exceptions import TaskDeferralTimeout

    clean_embedded_aws.control.set_timings(starting=30)
    operator, context = _run_job(clean_embedded_aws, "timeout-job-1", deferrable=True)
    jobflow_id = _launch_and_defer(operator, context)

    with pytest.raises(TaskDeferralTimeout):
        _job_operator("timeout-job-1", operator.notebook_uri).resume_execution(
            "__fail__", {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, context
        )

    assert state_of(clean_embedded_aws.client("emr"), jobflow_id) in GOING_OR_GONE


def test_a_trigger_failure_leaves_the_job_cluster_to_end_by_itself(clean_embedded_aws):
    from airflow.sdk.bases.operator import TriggerFailureReason
    from airflow.sdk.exceptions import TaskDeferralError

    clean_embedded_aws.control.set_timings(starting=30)
    operator, context = _run_job(clean_embedded_aws, "trigger-failed-job-1", deferrable=True)
    jobflow_id = _launch_and_defer(operator, context)

    with pytest.raises(TaskDeferralError):
        _job_operator("trigger-failed-job-1", operator.notebook_uri).resume_execution(
            "__fail__", {"error": TriggerFailureReason.TRIGGER_FAILURE}, context
        )

    assert state_of(clean_embedded_aws.client("emr"), jobflow_id) == "STARTING"


def test_an_execution_timeout_while_polling_terminates_the_jobs_cluster(
    clean_embedded_aws, monkeypatch
):
    from airflow.sdk.exceptions import AirflowTaskTimeout

    clean_embedded_aws.control.set_timings(starting=30)
    operator, context = _run_job(clean_embedded_aws, "timeout-poll-job-1")

    def time_is_up():
        raise AirflowTaskTimeout("Timeout, PID: 1")

    monkeypatch.setattr(operator, "_interval", time_is_up)

    with pytest.raises(AirflowTaskTimeout):
        operator.execute(context)

    jobflow_id = context["ti"].xcoms["atmo_emr_cluster"]["job_flow_id"]
    assert state_of(clean_embedded_aws.client("emr"), jobflow_id) in GOING_OR_GONE


def test_the_jobs_trigger_terminates_the_cluster_when_the_task_is_killed(clean_embedded_aws):
    from airflow.sdk.exceptions import TaskDeferred

    from atmo_provider.triggers.cluster import AtmoClusterStateTrigger

    clean_embedded_aws.control.set_timings(starting=30)
    operator, context = _run_job(clean_embedded_aws, "killed-job-1", deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context)
    classpath, kwargs = deferred.value.trigger.serialize()
    trigger = AtmoClusterStateTrigger(**kwargs)

    asyncio.run(trigger.on_kill())

    assert kwargs["terminate_on_kill"] is True
    assert state_of(clean_embedded_aws.client("emr"), kwargs["job_flow_id"]) in GOING_OR_GONE


def test_killing_the_polling_job_terminates_its_cluster_and_fails_it(clean_embedded_aws):
    clean_embedded_aws.control.set_timings(starting=30)
    operator, context = _run_job(clean_embedded_aws, "killed-poll-job-1")
    worker = run_in_thread(operator.execute, context)
    jobflow_id = wait_for_link(context)

    operator.on_kill()

    wait_for_state(clean_embedded_aws.client("emr"), jobflow_id, GOING_OR_GONE)
    error = worker.result(timeout=30)
    assert isinstance(error, EmrFailure)
    assert "USER_REQUEST" in str(error)


def _launch_and_defer(operator, context) -> str:
    from airflow.sdk.exceptions import TaskDeferred

    with pytest.raises(TaskDeferred):
        operator.execute(context)
    return context["ti"].xcoms["atmo_emr_cluster"]["job_flow_id"]
