"""The benchmark suite's own logic: result rows, the table, the retry simulation."""

from __future__ import annotations

import math

from benchmarks import format_table, p95, row
from benchmarks.bench_backoff import airflow_delay, check_airflow_delay, simulate
from benchmarks.run import discover


def test_row_ratio_is_ours_over_peer() -> None:
    assert row("x", "m", 3.0, 2.0, "t", True)["ratio"] == 1.5


def test_row_without_peer_has_no_ratio() -> None:
    assert row("x", "m", 3.0, None, "t", None)["ratio"] is None


def test_p95_takes_the_nearest_rank() -> None:
    assert p95(list(range(1, 101))) == 95


def test_p95_of_nothing_is_nan() -> None:
    assert math.isnan(p95([]))


def test_table_has_a_line_per_row_plus_header_and_rule() -> None:
    table = format_table([row("x", "m", 1.0, 2.0, "t", False), row("y", "n", 1.0, 1.0, "t", True)])
    assert len(table.splitlines()) == 4


def test_table_shows_a_missed_target_in_capitals() -> None:
    assert " NO " in format_table([row("x", "m", 1.0, 2.0, "t", False, "why")])


def test_runner_finds_the_benchmark_modules() -> None:
    assert {"parsing", "dashboard", "backoff", "import"} <= set(discover())


def test_airflow_delay_model_matches_airflows_method() -> None:
    assert check_airflow_delay(cases=10) == 10


def test_airflow_delay_stays_between_the_minimum_and_twice_it() -> None:
    delays = {airflow_delay(4, 600, f"t{i}", "2026-01-01", 3) for i in range(50)}
    assert min(delays) >= 16 and max(delays) < 32


def test_airflow_delay_is_capped() -> None:
    assert airflow_delay(1, 60, "t", "2026-01-01", 20) == 60


def test_simulation_without_throttling_makes_one_call_per_client() -> None:
    result = simulate(lambda client, n: 1.0, budget=3, clients=10, rate=10)
    assert result == {"last_success": 0.0, "calls": 10, "gave_up": 0}


def test_simulation_admits_only_the_rate_and_retries_the_rest() -> None:
    result = simulate(lambda client, n: 1.0, budget=3, clients=4, rate=2)
    assert result == {"last_success": 1.0, "calls": 6, "gave_up": 0}


def test_simulation_gives_up_after_the_retry_budget() -> None:
    result = simulate(lambda client, n: 0.0, budget=2, clients=3, rate=1)
    assert result["gave_up"] == 2 and result["calls"] == 7
