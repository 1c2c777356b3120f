"""EMR calls of N cluster waits in one triggerer: our shared poll against one poll per trigger.

N clusters (200; smoke: 20) are launched in an embedded AWS of this process and waited on
twice, as a triggerer would run the waits: until they are ready, then (after TerminateJobFlows)
until they are terminated. Each set of triggers runs in one asyncio loop (``trigger.run()``,
first event consumed), with the same poll interval, and the embedded AWS counts the EMR calls
by action (``control.call_counts()``); a thread reads the count once per poll interval, and the
median of those per-interval counts is the figure compared. The clusters stay in each state
long enough for every peer trigger (each builds its own client first) to be polling.

* ours: :class:`~atmo_provider.triggers.cluster.AtmoClusterStateTrigger` served by the shared
  poll of :mod:`atmo_provider.triggers.poller` (ListClusters, pages of 50);
* peer: the Amazon provider's deferrable triggers, one per cluster, each describing its own
  cluster: ``EmrCreateJobFlowTrigger`` (the ready wait) and ``EmrTerminateJobFlowTrigger``
  (what ``EmrJobFlowSensor`` defers to).

The peer's triggers need ``aiobotocore``, which has no release for the botocore of this venv;
they run unchanged except that their hook's async client is a thin adapter that makes each
waiter attempt (one DescribeCluster) with the same boto3 client in a worker thread. Both sides
get a 64-thread default executor so that neither is held back by the thread pool.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from benchmarks import row

__all__ = ["REGION", "cli", "embedded_aws", "run", "start_clusters", "terminate_clusters"]

NAME = "emr_polling"

#: Clusters waited on, by size.
CLUSTERS = {"smoke": 20, "full": 200}

#: Poll interval of both sides, in seconds, by size (whole seconds: the peer's is an int).
POLL_INTERVAL = {"smoke": 1, "full": 2}

#: Seconds one peer trigger takes to build its client, allowed for in the cluster timings.
PEER_START_SECONDS = 0.3

#: Region of the benchmark's clusters.
REGION = "us-west-2"


@dataclass
class EmbeddedAws:
    """An embedded AWS started for a benchmark."""

    endpoint_url: str
    control: Any

    def emr(self) -> Any:
        """Return a boto3 EMR client pointed at the embedded AWS."""
        import boto3

        return boto3.client(
            "emr",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


@contextmanager
def embedded_aws(**timings: float) -> Iterator[EmbeddedAws]:
    """Start an embedded AWS on loopback and point ``aws_default`` at it while in the block.

    :param timings: lifecycle timings to change from the ``fast`` preset.
    """
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="atmo-bench-home-"))
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")

    from atmo_provider.embedded.control import EmbeddedAwsControl
    from atmo_provider.embedded.server import EmbeddedAws as Server
    from atmo_provider.embedded.timings import LifecycleTimings

    server = Server(port=0, timings=LifecycleTimings.fast().replace(**timings)).start()
    previous = os.environ.get("AIRFLOW_CONN_AWS_DEFAULT")
    os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(
        {
            "conn_type": "aws",
            "login": "testing",
            "password": "testing",
            "extra": {"endpoint_url": server.endpoint_url, "region_name": REGION},
        }
    )
    try:
        yield EmbeddedAws(server.endpoint_url, EmbeddedAwsControl(server.endpoint_url))
    finally:
        if previous is None:
            os.environ.pop("AIRFLOW_CONN_AWS_DEFAULT", None)
        else:
            os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = previous
        server.stop()


def start_clusters(aws: EmbeddedAws, count: int, prefix: str) -> list[str]:
    """Launch ``count`` clusters that stay up once ready; return their job flow ids.

    :param aws: the embedded AWS.
    :param count: how many clusters.
    :param prefix: start of their names.
    """
    emr = aws.emr()
    return [
        emr.run_job_flow(
            Name=f"{prefix}-{number}",
            ReleaseLabel="emr-6.15.0",
            Instances={
                "InstanceCount": 1,
                "MasterInstanceType": "m5.xlarge",
                "KeepJobFlowAliveWhenNoSteps": True,
            },
            JobFlowRole="EMR_EC2_DefaultRole",
            ServiceRole="EMR_DefaultRole",
        )["JobFlowId"]
        for number in range(count)
    ]


def terminate_clusters(aws: EmbeddedAws, ids: list[str]) -> None:
    """Terminate the clusters ``ids``."""
    emr = aws.emr()
    for start in range(0, len(ids), 50):
        emr.terminate_job_flows(JobFlowIds=ids[start : start + 50])


@dataclass
class PhaseResult:
    """EMR calls and wall seconds of one wait of all clusters."""

    calls: dict[str, int]
    seconds: float
    statuses: list[str]
    polls: int
    #: EMR calls in each poll interval of the wait, sampled from the call counters.
    per_interval: list[int]


class _Sampler(threading.Thread):
    """Read the EMR call count once per poll interval while a wait runs."""

    def __init__(self, aws: EmbeddedAws, interval: float) -> None:
        super().__init__(daemon=True)
        self.aws = aws
        self.interval = interval
        self.deltas: list[int] = []
        self.done = threading.Event()

    def run(self) -> None:
        last = 0
        finished = False
        while not finished:
            finished = self.done.wait(self.interval)
            total = sum(self.aws.control.call_counts().get("emr", {}).values())
            self.deltas.append(total - last)
            last = total


async def _first_events(triggers: list[Any]) -> list[dict[str, Any]]:
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=64))

    async def first(trigger: Any) -> dict[str, Any]:
        async for event in trigger.run():
            return event.payload
        raise RuntimeError("a trigger ended without an event")

    return list(await asyncio.gather(*(first(trigger) for trigger in triggers)))


def _run_phase(aws: EmbeddedAws, triggers: list[Any], interval: float) -> PhaseResult:
    from atmo_provider.triggers.poller import EmrStatePoller

    polls = 0
    original = EmrStatePoller.poll_once

    async def counted(self: Any) -> None:
        nonlocal polls
        polls += 1
        await original(self)

    aws.control.reset_call_counts()
    EmrStatePoller.poll_once = counted  # type: ignore[method-assign]
    sampler = _Sampler(aws, interval)
    started = time.monotonic()
    sampler.start()
    try:
        events = asyncio.run(_first_events(triggers))
    finally:
        EmrStatePoller.poll_once = original  # type: ignore[method-assign]
        sampler.done.set()
        sampler.join()
    seconds = time.monotonic() - started
    calls = aws.control.call_counts().get("emr", {})
    statuses = [event["status"] for event in events]
    return PhaseResult(calls, seconds, statuses, polls, sampler.deltas)


def _ours(aws: EmbeddedAws, count: int, interval: int) -> list[PhaseResult]:
    from atmo_provider.aws.states import ENDING_STATES, READY_STATES, TERMINAL_STATES
    from atmo_provider.triggers.cluster import AtmoClusterStateTrigger

    since = (datetime.now(timezone.utc) - timedelta(seconds=5)).isoformat()
    ids = start_clusters(aws, count, "bench-ours")

    def triggers(target: frozenset[str], failure: frozenset[str]) -> list[Any]:
        return [
            AtmoClusterStateTrigger(
                job_flow_id=jobflow_id,
                target_states=target,
                failure_states=failure,
                region_name=REGION,
                poll_interval=interval,
                created_after=since,
            )
            for jobflow_id in ids
        ]

    ready = _run_phase(aws, triggers(READY_STATES, ENDING_STATES), interval)
    terminate_clusters(aws, ids)
    gone = _run_phase(aws, triggers(TERMINAL_STATES, frozenset()), interval)
    return [ready, gone]


def _peer_triggers() -> tuple[type, type]:
    from airflow.providers.amazon.aws.hooks.emr import EmrHook
    from airflow.providers.amazon.aws.triggers.emr import (
        EmrCreateJobFlowTrigger,
        EmrTerminateJobFlowTrigger,
    )

    class ThreadedWaiter:
        """The boto3 waiter of the peer, one attempt per ``wait`` in a worker thread."""

        def __init__(self, waiter: Any) -> None:
            self._waiter = waiter

        async def wait(self, **kwargs: Any) -> None:
            await asyncio.to_thread(self._waiter.wait, **kwargs)

    class ThreadedClient:
        """Stands in for the aiobotocore client: an async context around a boto3 client."""

        def __init__(self, client: Any) -> None:
            self.client = client

        async def __aenter__(self) -> ThreadedClient:
            return self

        async def __aexit__(self, *exc: object) -> None:
            return None

    class ThreadedEmrHook(EmrHook):
        """``EmrHook`` whose async connection is :class:`ThreadedClient`."""

        async def get_async_conn(self) -> ThreadedClient:
            return ThreadedClient(await asyncio.to_thread(lambda: self.conn))

        def get_waiter(self, waiter_name: str, *args: Any, **kwargs: Any) -> Any:
            client = kwargs.pop("client", None)
            if kwargs.pop("deferrable", False) and isinstance(client, ThreadedClient):
                waiter = super().get_waiter(waiter_name, *args, client=client.client, **kwargs)
                return ThreadedWaiter(waiter)
            return super().get_waiter(waiter_name, *args, client=client, **kwargs)

    class PeerReady(EmrCreateJobFlowTrigger):
        aws_hook_class = ThreadedEmrHook

    class PeerTerminated(EmrTerminateJobFlowTrigger):
        aws_hook_class = ThreadedEmrHook

    return PeerReady, PeerTerminated


def _peer(aws: EmbeddedAws, count: int, interval: int) -> list[PhaseResult]:
    ready_trigger, terminated_trigger = _peer_triggers()
    ids = start_clusters(aws, count, "bench-peer")
    attempts = 10_000

    ready = _run_phase(
        aws,
        [
            ready_trigger(
                job_flow_id=jobflow_id,
                aws_conn_id="aws_default",
                waiter_delay=interval,
                waiter_max_attempts=attempts,
                region_name=REGION,
            )
            for jobflow_id in ids
        ],
        interval,
    )
    terminate_clusters(aws, ids)
    gone = _run_phase(
        aws,
        [
            terminated_trigger(
                job_flow_id=jobflow_id,
                aws_conn_id="aws_default",
                waiter_delay=interval,
                waiter_max_attempts=attempts,
                region_name=REGION,
            )
            for jobflow_id in ids
        ],
        interval,
    )
    return [ready, gone]


def _median_per_interval(phases: list[PhaseResult]) -> float:
    return statistics.median(delta for phase in phases for delta in phase.per_interval)


def run(size: str) -> list[dict[str, Any]]:
    """Wait on the clusters with both sides and return the result rows.

    :param size: ``smoke`` (20 clusters) or ``full`` (200).
    """
    for noisy in ("airflow.providers.amazon", "atmo_provider.triggers", "atmo_provider.embedded"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    count, interval = CLUSTERS[size], POLL_INTERVAL[size]
    pages = math.ceil(count / 50)
    # Each peer trigger builds its own AWS client (about a quarter of a second here), so
    # the clusters change state only once every trigger has been polling for a while.
    settle = PEER_START_SECONDS * count
    timings = {
        "starting": settle / 2 + 3 * interval,
        "bootstrapping": settle / 2 + 3 * interval,
        "terminating": settle + 6 * interval,
    }
    with embedded_aws(**timings) as aws:
        ours = _ours(aws, count, interval)
        peer = _peer(aws, count, interval)

    polls = sum(phase.polls for phase in ours)
    lists = sum(phase.calls.get("ListClusters", 0) for phase in ours)
    describes = sum(phase.calls.get("DescribeCluster", 0) for phase in ours)
    outcome = (
        f"{count} clusters, poll interval {interval}s; the ready and terminated waits took "
        f"{sum(p.seconds for p in ours):.1f}s (ours) and {sum(p.seconds for p in peer):.1f}s "
        f"(peer); events: ours {_tally(ours)}, peer {_tally(peer)}"
    )
    peer_note = (
        "Peer: the Amazon provider's EmrCreateJobFlowTrigger and EmrTerminateJobFlowTrigger, "
        "one per cluster, with a thread-backed stand-in for aiobotocore (not installable "
        "with this botocore)."
    )
    median_ours, median_peer = _median_per_interval(ours), _median_per_interval(peer)
    terminate_ours, terminate_peer = (
        _median_per_interval(ours[1:]),
        _median_per_interval(peer[1:]),
    )
    return [
        row(
            NAME,
            "ListClusters pages per shared poll",
            lists / polls if polls else math.nan,
            None,
            f"= ceil(N/50) = {pages}",
            polls > 0 and lists == pages * polls,
            f"{lists} pages in {polls} polls. {outcome}",
        ),
        row(
            NAME,
            "EMR calls per poll interval, median of both waits",
            median_ours,
            median_peer,
            f"ours <= ceil(N/50) = {pages}; peer ~ N = {count}",
            median_ours <= pages,
            "The embedded AWS's EMR call counter read once per poll interval during the "
            f"waits; per-interval counts ours {_spread(ours)}, peer {_spread(peer)}. "
            f"Ours adds one DescribeCluster per cluster as it becomes ready ({describes} "
            "in all, for the master address a listing lacks): the bursts in its highest "
            f"intervals. {peer_note}",
        ),
        row(
            NAME,
            "EMR calls per poll interval, median of the terminate wait",
            terminate_ours,
            terminate_peer,
            f"ours <= {pages}; peer ~ {count}",
            terminate_ours <= pages,
            "Waiting for TERMINATED alone: ours is the listing only.",
        ),
        row(
            NAME,
            "EMR calls per cluster over both waits",
            _total(ours) / count,
            _total(peer) / count,
            "ours < peer",
            _total(ours) < _total(peer),
            f"ours: {_calls(ours)}; peer: {_calls(peer)}.",
        ),
    ]


def _total(phases: list[PhaseResult]) -> int:
    return sum(sum(phase.calls.values()) for phase in phases)


def _spread(phases: list[PhaseResult]) -> str:
    deltas = [delta for phase in phases for delta in phase.per_interval]
    return f"{min(deltas)}..{max(deltas)} over {len(deltas)} intervals" if deltas else "none"


def _tally(phases: list[PhaseResult]) -> str:
    statuses = [status for phase in phases for status in phase.statuses]
    return ", ".join(f"{statuses.count(s)} {s}" for s in sorted(set(statuses)))


def _calls(phases: list[PhaseResult]) -> str:
    total: dict[str, int] = {}
    for phase in phases:
        for action, count in phase.calls.items():
            total[action] = total.get(action, 0) + count
    return ", ".join(f"{count} {action}" for action, count in sorted(total.items()))


def cli(run_rows: Any = None) -> int:
    """Run a benchmark from the command line and print its rows as JSON.

    :param run_rows: the module's ``run(size)``; this module's by default.
    """
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", choices=("smoke", "full"), default="smoke")
    args = parser.parse_args()
    # Logs (Airflow's go to standard output) are sent to standard error: stdout is the JSON.
    with contextlib.redirect_stdout(sys.stderr):
        rows = (run_rows or run)(args.size)
    sys.stdout.write(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(cli())
