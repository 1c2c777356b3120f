"""Unit tests of the Spark job operators and the failure report: arguments and wording."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from atmo_provider.errors import AtmoValidationError
from atmo_provider.operators.job_outcome import describe_failure, succeeded
from atmo_provider.operators.spark_job import AtmoSparkJobOperator, AtmoUploadNotebookOperator
from atmo_provider.settings import AtmoSettings
from tests.fixtures.embedded import aws_connection_json


@pytest.fixture(autouse=True)
def no_real_aws(monkeypatch):
    """Point aws_default at a closed local port, so that no test can reach a real AWS."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT", aws_connection_json("http://127.0.0.1:9", "us-west-2")
    )


def _job(**changes) -> AtmoSparkJobOperator:
    arguments = {
        "task_id": "run_job",
        "identifier": "daily-counts",
        "owner": "jdoe",
        "owner_email": "jdoe@example.com",
        "notebook_uri": "s3://atmo-code/jobs/daily-counts/counts.ipynb",
        "settings": AtmoSettings(),
    }
    arguments.update(changes)
    return AtmoSparkJobOperator(**arguments)


def _details(**changes) -> dict:
    details = {
        "jobflow_id": "j-1",
        "cluster_state": "TERMINATED_WITH_ERRORS",
        "reason_code": "STEP_FAILURE",
        "reason_message": "Shut down as step failed",
        "log_uri": "s3://atmo-logs/jobs/daily-counts/2024-05-17T093005Z/j-1/",
        "cluster_creation_datetime": datetime(2024, 5, 17, tzinfo=timezone.utc),
        "step_id": "s-1",
        "step_state": "FAILED",
        "step_start_datetime": None,
        "step_reason": "Unknown Error",
        "step_message": "The step script exited with status 1",
        "step_log_uri": "s3://atmo-logs/jobs/daily-counts/2024-05-17T093005Z/j-1/steps/s-1/",
        "stderr_log_uri": "s3://atmo-logs/jobs/daily-counts/2024-05-17T093005Z/j-1/steps/s-1/"
        "stderr.gz",
        "stderr_tail": None,
    }
    details.update(changes)
    return details


def test_the_job_operator_templates_identifier_owner_and_notebook():
    assert {"identifier", "owner_username", "notebook_uri"} <= set(
        AtmoSparkJobOperator.template_fields
    )
    assert set(AtmoUploadNotebookOperator.template_fields) == {"identifier", "notebook_path"}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"identifier": "Daily Counts"}, "identifier: must be 1 to 100 lowercase"),
        ({"result_visibility": "secret"}, "must be 'private' or 'public', got 'secret'"),
        ({"job_timeout": 48}, "job_timeout: must be between 1 and 24 hours, got 48"),
        ({"size": 0}, "size: must be at least 1, got 0"),
        ({"notebook_uri": "/tmp/counts.ipynb"}, "notebook_uri: expected an s3://bucket/key"),
        ({"notebook_uri": "s3://atmo-code/jobs/"}, "must name a notebook object"),
    ],
)
def test_invalid_job_arguments_are_refused_before_any_launch(changes, message):
    with pytest.raises(AtmoValidationError, match=message):
        _job(**changes).execute({})


def test_the_upload_refuses_an_invalid_notebook_before_any_aws_call(tmp_path):
    notebook = tmp_path / "counts.ipynb"
    notebook.write_text(json.dumps({"nbformat": 3, "cells": []}))
    operator = AtmoUploadNotebookOperator(
        task_id="upload",
        identifier="daily-counts",
        notebook_path=str(notebook),
        settings=AtmoSettings(),
    )

    with pytest.raises(AtmoValidationError, match="counts.ipynb has nbformat 3"):
        operator.execute({})


def test_a_completed_step_on_a_cleanly_ended_cluster_succeeded():
    assert succeeded(_details(cluster_state="TERMINATED", step_state="COMPLETED"))


def test_a_completed_step_on_a_cluster_ended_with_errors_did_not_succeed():
    assert not succeeded(_details(step_state="COMPLETED"))


def test_a_failed_step_did_not_succeed():
    assert not succeeded(_details(cluster_state="TERMINATED"))


def test_the_failure_report_names_job_cluster_step_reasons_and_logs():
    report = describe_failure("daily-counts", _details())

    assert report.splitlines()[0] == (
        "Spark job daily-counts failed on cluster j-1: step RunNotebookStep (s-1) ended FAILED: "
        "Unknown Error; The step script exited with status 1. The cluster is "
        "TERMINATED_WITH_ERRORS (STEP_FAILURE: Shut down as step failed)."
    )
    assert "Cluster logs: s3://atmo-logs/jobs/daily-counts/2024-05-17T093005Z/j-1/" in report
    assert "Step logs: s3://atmo-logs/jobs/daily-counts/" in report
    assert "stderr is not in s3://" in report


def test_the_failure_report_quotes_the_stderr_tail_when_there_is_one():
    report = describe_failure("daily-counts", _details(stderr_tail="Traceback\nKeyError: 'x'"))

    assert report.endswith("Traceback\nKeyError: 'x'")


def test_the_failure_report_of_a_cluster_without_logs_says_so():
    report = describe_failure(
        "daily-counts",
        _details(log_uri=None, step_log_uri=None, stderr_log_uri=None, step_id=None),
    )

    assert "the notebook step never ran" in report
    assert "launched without a LogUri" in report
