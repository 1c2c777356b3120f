"""The Spark job operator with ``[atmo] execution = local``: the notebook runs on the worker."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest

from atmo_provider.local.runner import LocalRunFailed
from atmo_provider.operators.local_run import OUTCOME_XCOM_KEY
from atmo_provider.operators.spark_job import AtmoSparkJobOperator
from tests.integration.helpers_aws import task_context
from tests.local.conftest import DATA

LOGICAL_DATE = datetime(2026, 3, 2, 6, 0, tzinfo=timezone.utc)


def _operator(results_store, identifier: str, notebook: str, visibility: str = "private"):
    settings = dataclasses.replace(results_store.settings, execution="local")
    key = f"jobs/{identifier}/{notebook}"
    results_store.s3.put_object(
        Bucket=settings.code_bucket, Key=key, Body=(DATA / notebook).read_bytes()
    )
    return AtmoSparkJobOperator(
        task_id="run_spark_job",
        identifier=identifier,
        owner="jdoe",
        owner_email="jdoe@example.com",
        notebook_uri=f"s3://{settings.code_bucket}/{key}",
        job_timeout=1,
        result_visibility=visibility,
        settings=settings,
    )


def _context(identifier: str):
    return task_context(f"atmo_job_{identifier}", "run_spark_job", logical_date=LOGICAL_DATE)


def test_local_run_stores_results_where_an_emr_run_would(results_store, embedded_aws):
    embedded_aws.control.reset_call_counts()
    operator = _operator(results_store, "local-writes", "writes_results.ipynb", "public")
    context = _context("local-writes")

    result = operator.execute(context)

    bucket = results_store.settings.public_data_bucket
    assert result == {
        "job_flow_id": None,
        "step_id": None,
        "results_uri": f"s3://{bucket}/local-writes/2026-03-02/",
    }
    keys = results_store.keys(bucket, "local-writes/2026-03-02/")
    assert "local-writes/2026-03-02/tables/rows.csv" in keys
    assert any(key.endswith(".ipynb") for key in keys)
    assert context["ti"].xcom_pull(key=OUTCOME_XCOM_KEY)["status"] == "success"
    assert "RunJobFlow" not in embedded_aws.control.call_counts().get("emr", {})


def test_local_run_failure_names_the_cell_and_keeps_the_outcome(results_store):
    operator = _operator(results_store, "local-raises", "raises.ipynb")
    context = _context("local-raises")

    with pytest.raises(LocalRunFailed, match=r"cell 3 .*ValueError: no flights today"):
        operator.execute(context)

    outcome = context["ti"].xcom_pull(key=OUTCOME_XCOM_KEY)
    assert outcome["status"] == "failed"
    assert "no flights today" in outcome["reason"]
