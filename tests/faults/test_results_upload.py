"""A local run's results upload fails on the wire: it is retried, nothing is lost, and the run
is not reported successful before its results are stored."""

from __future__ import annotations

import pytest

from atmo_provider.embedded.fault_proxy import WireRule
from atmo_provider.local.results import ResultUploader
from atmo_provider.operators.local_run import OUTCOME_XCOM_KEY
from tests.local.test_operator_local import _context, _operator

pytestmark = pytest.mark.integration

PREFIX = "{identifier}/2026-03-02/"


@pytest.fixture
def events(monkeypatch) -> list[str]:
    """What the run did, in order: ``stored <key>`` per upload, ``outcome <status>``."""
    happened: list[str] = []
    original = ResultUploader.upload

    def upload(self, path, name):
        key = original(self, path, name)
        happened.append(f"stored {key}")
        return key

    monkeypatch.setattr(ResultUploader, "upload", upload)
    return happened


def _run(results_store, identifier: str, events: list[str]):
    operator = _operator(results_store, identifier, "writes_results.ipynb", "public")
    context = _context(identifier)
    ti = context["ti"]
    push = ti.xcom_push

    def recording_push(key, value):
        if key == OUTCOME_XCOM_KEY:
            events.append(f"outcome {value['status']}")
        push(key, value)

    ti.xcom_push = recording_push
    try:
        return operator.execute(context), context
    except Exception as exc:
        return exc, context


@pytest.mark.parametrize("effect", ["error500", "drop_after_apply"])
def test_a_results_upload_failing_once_is_retried_and_nothing_is_lost(
    results_store,
    fault_proxy,
    short_sleeps,
    events,
    effect,
):
    identifier = f"upload-{effect.replace('_', '-')}"
    fault_proxy.set_rules([WireRule("PutObject", effect, service="s3", times=1)])

    result, context = _run(results_store, identifier, events)

    bucket = results_store.settings.public_data_bucket
    assert result["results_uri"] == f"s3://{bucket}/{PREFIX.format(identifier=identifier)}"
    assert fault_proxy.counts(effect) == {"s3": {"PutObject": 1}}
    stored = [event.removeprefix("stored ") for event in events if event.startswith("stored")]
    assert sorted(stored) == results_store.keys(bucket, PREFIX.format(identifier=identifier))
    assert f"{identifier}/2026-03-02/tables/rows.csv" in stored
    assert events[-1] == "outcome success"


def test_a_run_whose_results_cannot_be_stored_is_not_reported_successful(
    results_store,
    fault_proxy,
    short_sleeps,
    events,
):
    fault_proxy.set_rules([WireRule("PutObject", "error500", service="s3")])

    result, context = _run(results_store, "upload-never", events)

    assert isinstance(result, Exception)
    assert "outcome success" not in events
    outcome = context["ti"].xcom_pull(key=OUTCOME_XCOM_KEY)
    assert outcome is None or outcome["status"] != "success"
