"""Worker-slot seconds of waiting one hour for N clusters: our deferrable wait against poke mode.

N clusters (50; smoke: 5) are launched in an embedded AWS of this process and stay in STARTING
for one simulated hour, played in ``HOUR_SECONDS`` real seconds (the time scale). Each wait runs
as a worker would run the task, one thread per task:

* peer: the Amazon provider's ``EmrJobFlowSensor`` in poke mode (``deferrable=False``), poking
  every 5 simulated minutes; it holds its worker slot for the whole ``execute()``;
* ours: :class:`~atmo_provider.sensors.cluster.AtmoClusterReadySensor` (deferrable): it holds a
  slot for ``execute()`` up to ``defer()`` (one DescribeCluster) and again for the resume
  (``resume_execution`` with the trigger's event); in between, the wait is a trigger in a
  triggerer (here an asyncio loop of this process), which takes no worker slot.

The model: a slot is occupied for the wall seconds a task's code runs on the worker. The peer's
seconds grow with the wait, so they are scaled up by ``3600 / HOUR_SECONDS``; ours do not (one
describe, one resume, however long the wait), so they are reported as measured. Left out on
both sides: starting the task process (poke mode pays it once, a deferred task twice, a few
seconds each time on a real worker, still well under 1% of an hour) and the triggerer's own
cost, which is not a worker slot.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import sys
import threading
import time
from typing import Any

from benchmarks import row
from benchmarks.bench_emr_polling import REGION, cli, embedded_aws, start_clusters

__all__ = ["run"]

NAME = "worker_slots"

#: Clusters waited on, by size.
CLUSTERS = {"smoke": 5, "full": 50}

#: Real seconds that play one simulated hour, by size.
HOUR_SECONDS = {"smoke": 4.0, "full": 8.0}

#: The peer's poke interval, in simulated seconds.
POKE_SECONDS = 300


class _TaskInstance:
    """What the sensors need of a task instance: XComs kept in memory."""

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        self.dag_id = "bench_worker_slots"
        self.run_id = "bench"
        self.map_index = -1
        self.try_number = 1
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any, **_: Any) -> None:
        self.xcoms[key] = value

    def xcom_pull(self, key: str = "return_value", **_: Any) -> Any:
        return self.xcoms.get(key)


def _context(task: Any) -> dict[str, Any]:
    return {"ti": _TaskInstance(task.task_id), "task": task}


def _in_threads(calls: list[Any]) -> list[tuple[float, Any]]:
    """Run each call in its own thread at once; return (wall seconds, result or error)."""
    results: list[tuple[float, Any]] = [(0.0, None)] * len(calls)

    def work(index: int) -> None:
        started = time.monotonic()
        try:
            outcome = calls[index]()
        except BaseException as exc:  # noqa: BLE001 - the error is the outcome to report
            outcome = exc
        results[index] = (time.monotonic() - started, outcome)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _warm_up() -> None:
    """Import the sensors and build one client of each kind, so no wait pays for it."""
    from airflow.providers.amazon.aws.hooks.emr import EmrHook
    from airflow.providers.amazon.aws.sensors.emr import EmrJobFlowSensor  # noqa: F401

    from atmo_provider.aws.emr import EmrClusters
    from atmo_provider.sensors.cluster import AtmoClusterReadySensor  # noqa: F401

    EmrHook(aws_conn_id="aws_default", region_name=REGION).conn.list_clusters()
    EmrClusters("aws_default", REGION).client.list_clusters()


def _peer(ids: list[str], hour: float) -> list[tuple[float, float, Any]]:
    """Run the peer sensors; return (wall seconds, seconds to the first poke, outcome)."""
    from airflow.providers.amazon.aws.sensors.emr import EmrJobFlowSensor

    first_poke: dict[str, float] = {}

    class TimedSensor(EmrJobFlowSensor):
        def poke(self, context: Any) -> bool:
            done = super().poke(context)
            first_poke.setdefault(self.task_id, time.monotonic())
            return done

    sensors = [
        TimedSensor(
            task_id=f"peer_{number}",
            job_flow_id=jobflow_id,
            target_states=["WAITING", "RUNNING"],
            failed_states=["TERMINATED", "TERMINATED_WITH_ERRORS"],
            poke_interval=POKE_SECONDS * hour / 3600,
            timeout=3 * hour,
            mode="poke",
            deferrable=False,
            region_name=REGION,
        )
        for number, jobflow_id in enumerate(ids)
    ]
    started = time.monotonic()
    ran = _in_threads([lambda s=sensor: s.execute(_context(s)) for sensor in sensors])
    return [
        (seconds, first_poke.get(sensor.task_id, started + seconds) - started, outcome)
        for sensor, (seconds, outcome) in zip(sensors, ran, strict=True)
    ]


def _ours(ids: list[str], hour: float) -> tuple[list[float], list[Any]]:
    from airflow.sdk.exceptions import TaskDeferred

    from atmo_provider.sensors.cluster import AtmoClusterReadySensor
    from atmo_provider.settings import AtmoSettings

    settings = AtmoSettings()
    sensors = [
        AtmoClusterReadySensor(
            task_id=f"ours_{number}",
            job_flow_id=jobflow_id,
            poll_interval=POKE_SECONDS * hour / 3600,
            timeout=3 * hour,
            settings=settings,
        )
        for number, jobflow_id in enumerate(ids)
    ]
    contexts = [_context(sensor) for sensor in sensors]
    deferred = _in_threads(
        [lambda s=s, c=c: s.execute(c) for s, c in zip(sensors, contexts, strict=True)]
    )
    for _seconds, outcome in deferred:
        if not isinstance(outcome, TaskDeferred):
            raise RuntimeError(f"the deferrable sensor did not defer: {outcome!r}")

    async def triggerer() -> list[dict[str, Any]]:
        async def first(trigger: Any) -> dict[str, Any]:
            async for event in trigger.run():
                return event.payload
            raise RuntimeError("a trigger ended without an event")

        return list(await asyncio.gather(*(first(o.trigger) for _s, o in deferred)))

    events = asyncio.run(triggerer())

    resumed = _in_threads(
        [
            lambda s=s, c=c, d=d, e=e: s.resume_execution(
                d.method_name, {**(d.kwargs or {}), "event": e}, c
            )
            for s, c, (_sec, d), e in zip(sensors, contexts, deferred, events, strict=True)
        ]
    )
    seconds = [a + b for (a, _d), (b, _r) in zip(deferred, resumed, strict=True)]
    return seconds, [outcome for _seconds, outcome in resumed]


def run(size: str) -> list[dict[str, Any]]:
    """Wait one simulated hour for the clusters with both sides; return the result rows.

    :param size: ``smoke`` (5 clusters) or ``full`` (50).
    """
    for noisy in ("airflow.providers.amazon", "atmo_provider", "airflow.task"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    count, hour = CLUSTERS[size], HOUR_SECONDS[size]
    scale = 3600 / hour

    with embedded_aws(starting=hour, bootstrapping=0.0) as aws:
        _warm_up()
        peer_ids = start_clusters(aws, count, "slots-peer")
        peer = _peer(peer_ids, hour)
        ours_ids = start_clusters(aws, count, "slots-ours")
        ours_seconds, ours_results = _ours(ours_ids, hour)

    peer_errors = [outcome for *_s, outcome in peer if isinstance(outcome, BaseException)]
    ours_errors = [outcome for outcome in ours_results if isinstance(outcome, BaseException)]
    if peer_errors or ours_errors:
        raise RuntimeError(f"waits failed: peer {peer_errors[:3]}, ours {ours_errors[:3]}")

    # The peer's first poke (its fixed cost) as measured, the rest of its wait scaled up.
    peer_seconds = [first + (seconds - first) * scale for seconds, first, _o in peer]
    peer_total = sum(peer_seconds)
    ours_total = sum(ours_seconds)
    waited = statistics.median(seconds - first for seconds, first, _o in peer) / hour
    model = (
        f"{count} clusters ready after one simulated hour = {hour:g} real seconds (scale "
        f"x{scale:g}); a slot is busy while the task's code runs on the worker: the peer's "
        "whole poke-mode execute() (up to its first poke as measured, the rest scaled up; "
        f"median wait after the first poke {waited:.2f} simulated hours), ours execute() up "
        "to defer() plus the resume "
        "(measured, not scaled: they do not grow with the wait). The trigger's wait in the "
        "triggerer holds no worker slot. Task process start-up is left out (paid once in poke "
        "mode, twice when deferring; a few seconds each, still under 1% of an hour). "
        f"Unrounded ratio {ours_total / peer_total:.6f}."
    )
    return [
        row(
            NAME,
            "worker-slot seconds for N one-hour waits",
            ours_total,
            peer_total,
            "ours < 1% of peer",
            ours_total < 0.01 * peer_total,
            model,
        ),
        row(
            NAME,
            "worker-slot seconds per wait, median",
            statistics.median(ours_seconds),
            statistics.median(peer_seconds),
            "ours < 1% of peer",
            statistics.median(ours_seconds) < 0.01 * statistics.median(peer_seconds),
            f"Peer: EmrJobFlowSensor, mode=poke, poke every {POKE_SECONDS}s simulated; "
            "ours: AtmoClusterReadySensor, deferrable.",
        ),
    ]


if __name__ == "__main__":
    sys.exit(cli(run))
