"""Launches, waits and terminations under EMR throttling: every run ends, one cluster each.

The cluster DAG (create, wait until ready, terminate, wait until gone) runs ``CLUSTERS`` times
while the fault proxy throttles half of all EMR calls, the deferred waits' calls included.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from atmo_provider.embedded.fault_proxy import WireRule
from tests.faults.conftest import install_short_sleeps, reset_embedded_aws, start_proxy
from tests.integration.helpers_aws import clusters_tagged, run_dag, task_states
from tests.integration.test_cluster_dags import _cluster_dag

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: Cluster DAG runs under throttling; ATMO_FAULT_CLUSTERS=20 for the full-size run.
CLUSTERS = int(os.environ.get("ATMO_FAULT_CLUSTERS", "10"))

DAG_ID = "atmo_fault_throttled"


@pytest.fixture(scope="module")
def throttled(airflow_db, embedded_aws) -> Iterator[dict[str, Any]]:
    """Run the cluster DAG CLUSTERS times with half of all EMR calls throttled."""
    reset_embedded_aws(embedded_aws)
    with pytest.MonkeyPatch.context() as patch:
        proxy = start_proxy(embedded_aws, patch)
        sleeps = install_short_sleeps(patch)
        try:
            proxy.set_rules([WireRule("*", "throttle", service="emr", share=0.5)], seed=7)
            dag = _cluster_dag(DAG_ID, "throttled-1")

            runs = [run_dag(dag) for _ in range(CLUSTERS)]

            yield {
                "runs": runs,
                "throttled": proxy.counts("throttle").get("emr", {}),
                "applied_runjobflow": proxy.applied("emr", "RunJobFlow"),
                "upstream": embedded_aws.control.call_counts()["emr"],
                "sleeps": sleeps,
                "emr": embedded_aws.client("emr"),
            }
        finally:
            proxy.stop()
            reset_embedded_aws(embedded_aws)


def test_throttling_reached_launch_wait_and_terminate(throttled):
    assert {"RunJobFlow", "DescribeCluster", "TerminateJobFlows"} <= set(throttled["throttled"])


def test_every_run_under_throttling_succeeds(throttled):
    runs = throttled["runs"]

    assert [run.state for run in runs] == ["success"] * CLUSTERS, [task_states(r) for r in runs]


def test_runjobflow_was_applied_once_per_run(throttled):
    assert throttled["applied_runjobflow"] == CLUSTERS
    assert throttled["upstream"]["RunJobFlow"] == CLUSTERS


def test_each_run_has_exactly_one_cluster_and_it_is_terminated(throttled):
    emr = throttled["emr"]
    per_run = {
        run.run_id: clusters_tagged(emr, f"{DAG_ID}/{run.run_id}/create/-1")
        for run in throttled["runs"]
    }

    assert {run_id: len(found) for run_id, found in per_run.items()} == {
        run_id: 1 for run_id in per_run
    }
    assert {found[0]["Status"]["State"] for found in per_run.values()} == {"TERMINATED"}


def test_retry_waits_are_full_jitter(throttled):
    draws = throttled["sleeps"].draws

    assert len(draws) >= 2
    assert len({delay for _, delay, _ in draws}) > 1
    assert all(0.0 <= delay <= ceiling for _, delay, ceiling in draws)
    assert sorted(throttled["sleeps"].slept) == sorted(delay for _, delay, _ in draws)
