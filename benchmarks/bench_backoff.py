"""Retry strategies of 100 throttled clients: our full jitter against Airflow's exponential delay.

A discrete-event simulation, deterministic per seed: 100 clients (tasks, each in its own process
in Airflow) make one call each to an API at the same moment; the API admits ``RATE`` calls per
second from a token bucket (burst ``RATE``) and throttles the rest; a throttled client waits its
strategy's delay for that retry and calls again, until it succeeds or its retry budget is spent.
Simulated rather than run as 100 processes because the delays are seconds to minutes: real
processes would take hours, and time-scaled ones on two shared cores would measure the OS
scheduler more than the strategy. The clients share nothing but the API, as processes would.

Strategies, each with the same base, cap and retry budget:

* ours: :class:`~atmo_provider.backoff.ExpoBackoffFullJitter` (retry ``n`` waits a uniform time
  in ``[0, min(cap, base * 2**n)]``);
* Airflow: ``TaskInstance.next_retry_datetime`` with ``retry_delay=base``,
  ``retry_exponential_backoff=2.0``, ``max_retry_delay=cap``: the wait of try ``t`` is
  ``m + sha1(dag_id#task_id#logical_date#t) % m`` whole seconds with ``m = ceil(base * 2**(t-1))``
  (checked here against Airflow's own method);
* no jitter: ``min(cap, base * 2**n)``.

Figures per strategy over many seeds: mean and 95th percentile of the time of the last success,
mean number of calls, and clients that gave up.
"""

from __future__ import annotations

import datetime
import hashlib
import heapq
import math
import random
import statistics
import sys
from collections.abc import Callable
from types import SimpleNamespace

from atmo_provider.backoff import ExpoBackoffFullJitter
from benchmarks import main, p95, row

__all__ = ["airflow_delay", "run", "simulate"]

NAME = "backoff"

#: Clients that fail together.
CLIENTS = 100

#: Calls per second the API admits (token bucket refill rate and burst).
RATE = 5.0

#: Seeds per strategy, by size.
SEEDS = {"smoke": 40, "full": 200}

#: Full-jitter variants tried: (base seconds, cap seconds, retry budget).
VARIANTS = [(1, 60, 10), (1, 60, 20), (2, 60, 10), (0.5, 30, 15), (1, 300, 10), (4, 120, 8)]

#: Airflow's limit on any retry delay ([core] max_task_retry_delay's default).
MAX_RETRY_DELAY = 24 * 60 * 60

_DAG_ID = "atmo_bench"


def airflow_delay(
    base: float, cap: float, task_id: str, logical_date: str, try_number: int
) -> int:
    """Return Airflow's exponential retry delay in seconds for the failed try ``try_number``.

    :param base: ``retry_delay`` in seconds.
    :param cap: ``max_retry_delay`` in seconds.
    :param task_id: the task's id (part of the hash that spreads the delay).
    :param logical_date: the run's logical date as ``str(datetime)``.
    :param try_number: the try that failed, from 1.
    """
    min_backoff = max(1, math.ceil(base * 2.0 ** (try_number - 1)))
    key = f"{_DAG_ID}#{task_id}#{logical_date}#{try_number}".encode()
    ti_hash = int(hashlib.sha1(key, usedforsecurity=False).hexdigest(), 16)
    return min(min_backoff + ti_hash % min_backoff, MAX_RETRY_DELAY, cap)


def check_airflow_delay(cases: int = 40) -> int:
    """Compare :func:`airflow_delay` with Airflow's ``next_retry_datetime``; return cases checked.

    :raises AssertionError: when a delay differs.
    """
    from airflow.models.taskinstance import TaskInstance

    end = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    rng = random.Random(7)
    for case in range(cases):
        base, cap = rng.choice([(1, 60), (2, 60), (0.5, 30), (30, 600), (1, 300)])
        try_number = rng.randint(1, 12)
        logical = end - datetime.timedelta(days=case)
        task = SimpleNamespace(
            retry_delay=datetime.timedelta(seconds=base),
            retry_exponential_backoff=2.0,
            max_retry_delay=datetime.timedelta(seconds=cap),
        )
        ti = SimpleNamespace(
            retry_delay_override=None,
            task=task,
            try_number=try_number,
            dag_id=_DAG_ID,
            task_id=f"client_{case}",
            logical_date=logical,
            end_date=end,
            log=None,
        )
        theirs = (TaskInstance.next_retry_datetime(ti) - end).total_seconds()
        mine = airflow_delay(base, cap, f"client_{case}", str(logical), try_number)
        assert theirs == mine, f"case {case}: Airflow waits {theirs} s, model {mine} s"
    return cases


def simulate(
    delay: Callable[[int, int], float], budget: int, clients: int = CLIENTS, rate: float = RATE
) -> dict[str, float]:
    """Run one simulation; return the last success time, the calls made and clients that gave up.

    :param delay: ``delay(client, n)``: seconds client ``client`` waits before retry ``n``
        (``n = 0`` for the first retry).
    :param budget: retries a client makes before it gives up.
    :param clients: how many clients call at time 0.
    :param rate: calls per second the API admits; the bucket starts full (``rate`` tokens).
    """
    events = [(0.0, client, 0) for client in range(clients)]
    heapq.heapify(events)
    tokens, last_refill = rate, 0.0
    calls, gave_up, last_success = 0, 0, 0.0
    while events:
        now, client, retries = heapq.heappop(events)
        tokens = min(rate, tokens + (now - last_refill) * rate)
        last_refill = now
        calls += 1
        if tokens >= 1.0:
            tokens -= 1.0
            last_success = max(last_success, now)
        elif retries >= budget:
            gave_up += 1
        else:
            heapq.heappush(events, (now + delay(client, retries), client, retries + 1))
    return {"last_success": last_success, "calls": calls, "gave_up": gave_up}


def _strategies(base: float, cap: float, seed: int) -> dict[str, Callable[[int, int], float]]:
    jitter = ExpoBackoffFullJitter(base, cap, rng=random.Random(seed))
    logical = str(
        datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
        + datetime.timedelta(hours=seed)
    )
    return {
        "ours": lambda client, n: jitter.backoff(n),
        "airflow": lambda client, n: airflow_delay(base, cap, f"client_{client}", logical, n + 1),
        "no_jitter": lambda client, n: min(cap, base * 2.0**n),
    }


def _summary(results: list[dict[str, float]]) -> dict[str, float]:
    times = [item["last_success"] for item in results]
    return {
        "mean_time": statistics.fmean(times),
        "p95_time": p95(times),
        "mean_calls": statistics.fmean(item["calls"] for item in results),
        "gave_up": sum(item["gave_up"] for item in results) / len(results),
    }


def _variant_rows(base: float, cap: float, budget: int, seeds: int) -> list[dict]:
    results: dict[str, list[dict[str, float]]] = {"ours": [], "airflow": [], "no_jitter": []}
    for seed in range(seeds):
        for name, delay in _strategies(base, cap, seed).items():
            results[name].append(simulate(delay, budget))
    ours, theirs, flat = (_summary(results[name]) for name in ("ours", "airflow", "no_jitter"))

    label = f"base {base:g} s, cap {cap:g} s, {budget} retries"
    gave_up = (
        f"clients given up per run: ours {ours['gave_up']:.2f}, Airflow {theirs['gave_up']:.2f},"
        f" no jitter {flat['gave_up']:.2f}"
    )
    no_worse = ours["gave_up"] <= theirs["gave_up"]
    return [
        row(
            NAME,
            f"mean s to last success ({label})",
            ours["mean_time"],
            theirs["mean_time"],
            "ratio <= 0.9",
            ours["mean_time"] <= 0.9 * theirs["mean_time"] and no_worse,
            f"{seeds} seeds; no jitter {flat['mean_time']:.1f} s; {gave_up}",
        ),
        row(
            NAME,
            f"p95 s to last success ({label})",
            ours["p95_time"],
            theirs["p95_time"],
            "ratio <= 1.0",
            ours["p95_time"] <= theirs["p95_time"] and no_worse,
            f"no jitter {flat['p95_time']:.1f} s",
        ),
        row(
            NAME,
            f"mean calls ({label})",
            ours["mean_calls"],
            theirs["mean_calls"],
            "ratio <= 1.2",
            ours["mean_calls"] <= 1.2 * theirs["mean_calls"],
            f"no jitter {flat['mean_calls']:.0f} calls; {CLIENTS} clients, API admits "
            f"{RATE:g} calls/s",
        ),
    ]


def run(size: str) -> list[dict]:
    """Simulate every variant against Airflow's delay and no jitter; return the rows.

    :param size: ``smoke`` or ``full``.
    """
    try:
        checked = check_airflow_delay()
        check = row(
            NAME,
            "Airflow delay model = TaskInstance.next_retry_datetime",
            float(checked),
            None,
            "all cases equal",
            True,
            f"{checked} random (base, cap, try) cases, all equal",
        )
    except AssertionError as error:
        check = row(NAME, "Airflow delay model check", None, None, "all equal", False, str(error))

    rows = [check]
    for base, cap, budget in VARIANTS:
        rows.extend(_variant_rows(base, cap, budget, SEEDS[size]))
    return rows


if __name__ == "__main__":
    sys.exit(main(run))
