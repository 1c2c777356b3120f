"""The EMR lifecycle of the embedded AWS, driven tick by tick with a fake clock."""

from __future__ import annotations

from typing import Any

import pytest
from moto.emr.models import ElasticMapReduceBackend

from atmo_provider.embedded.faults import FaultRule
from atmo_provider.embedded.lifecycle import EmrLifecycle
from atmo_provider.embedded.timings import LifecycleTimings

TIMINGS = LifecycleTimings(
    starting=10, bootstrapping=20, step_pending=5, step_running=30, terminating=15
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def lifecycle(clock: FakeClock) -> EmrLifecycle:
    return EmrLifecycle(TIMINGS, clock=clock)


@pytest.fixture
def backend() -> ElasticMapReduceBackend:
    # A backend of its own, outside moto's global registry.
    return ElasticMapReduceBackend("us-west-2", "123456789012")


def step(name: str, action_on_failure: str = "TERMINATE_CLUSTER") -> dict[str, Any]:
    return {
        "name": name,
        "action_on_failure": action_on_failure,
        "hadoop_jar_step": {"Jar": "command-runner.jar", "Args": [name]},
    }


def make_cluster(
    backend: ElasticMapReduceBackend,
    name: str = "atmo-dev-cluster-alice-test",
    *,
    steps: list[dict[str, Any]] | None = None,
    keep_alive: bool = True,
    core_market: str = "ON_DEMAND",
) -> Any:
    cluster = backend.run_job_flow(
        name=name,
        log_uri="s3://atmo-logs/clusters/test/",
        job_flow_role="EMR_EC2_DefaultRole",
        service_role="EMR_DefaultRole",
        steps=steps or [],
        instance_attrs={
            "keep_job_flow_alive_when_no_steps": keep_alive,
            "ec2_subnet_id": None,
            "emr_managed_master_security_group": None,
            "emr_managed_slave_security_group": None,
            "service_access_security_group": None,
        },
    )
    backend.add_instance_groups(
        cluster.id,
        [
            {"instance_count": 1, "instance_role": "MASTER", "instance_type": "c3.4xlarge"},
            {
                "instance_count": 2,
                "instance_role": "CORE",
                "instance_type": "c3.4xlarge",
                "market": core_market,
            },
        ],
    )
    return cluster


def run(
    lifecycle: EmrLifecycle, clock: FakeClock, cluster: Any, seconds: float, every: float = 1.0
) -> list[str]:
    """Tick for ``seconds`` of fake time; return the cluster states seen, without repeats."""
    seen = [cluster.state]
    elapsed = 0.0
    while elapsed < seconds:
        clock.now += every
        elapsed += every
        lifecycle.tick()
        if cluster.state != seen[-1]:
            seen.append(cluster.state)
    return seen


def test_adopted_cluster_is_starting_and_not_ready(lifecycle, backend):
    cluster = make_cluster(backend)

    lifecycle.adopt(cluster)

    assert cluster.state == "STARTING"
    assert cluster.status["Timeline"]["ReadyDateTime"] is None
    assert cluster.master_public_dns_name is None


def test_cluster_stays_starting_until_its_starting_time_passed(lifecycle, backend, clock):
    cluster = make_cluster(backend)
    lifecycle.adopt(cluster)

    run(lifecycle, clock, cluster, TIMINGS.starting - 1)
    assert cluster.state == "STARTING"

    run(lifecycle, clock, cluster, 1)
    assert cluster.state == "BOOTSTRAPPING"


def test_keep_alive_cluster_without_steps_becomes_ready_and_stays_waiting(
    lifecycle, backend, clock
):
    cluster = make_cluster(backend, keep_alive=True)
    lifecycle.adopt(cluster)

    seen = run(lifecycle, clock, cluster, 500)

    assert seen == ["STARTING", "BOOTSTRAPPING", "WAITING"]
    assert cluster.status["Timeline"]["ReadyDateTime"] is not None
    assert cluster.master_public_dns_name.endswith(".us-west-2.compute.amazonaws.com")


def test_steps_run_one_at_a_time_in_order(lifecycle, backend, clock):
    cluster = make_cluster(backend, steps=[step("first"), step("second"), step("third")])
    lifecycle.adopt(cluster)
    order = []

    for _ in range(300):
        clock.now += 1
        lifecycle.tick()
        running = [s.name for s in cluster.steps if s.state == "RUNNING"]
        assert len(running) <= 1
        if running and running[0] not in order:
            order.append(running[0])

    assert order == ["first", "second", "third"]
    assert [s.state for s in cluster.steps] == ["COMPLETED"] * 3


def test_cluster_without_keep_alive_terminates_after_its_steps(lifecycle, backend, clock):
    cluster = make_cluster(backend, steps=[step("only")], keep_alive=False)
    lifecycle.adopt(cluster)

    seen = run(lifecycle, clock, cluster, 300)

    assert seen == ["STARTING", "BOOTSTRAPPING", "WAITING", "RUNNING", "TERMINATING", "TERMINATED"]
    reason = cluster.status["StateChangeReason"]
    assert reason == {"Code": "ALL_STEPS_COMPLETED", "Message": "Steps completed"}
    assert cluster.status["Timeline"]["EndDateTime"] is not None


def test_step_timeline_has_start_and_end(lifecycle, backend, clock):
    cluster = make_cluster(backend, steps=[step("only")])
    lifecycle.adopt(cluster)

    run(lifecycle, clock, cluster, 300)

    timeline = cluster.steps[0].status["Timeline"]
    assert timeline["StartDateTime"] is not None
    assert timeline["EndDateTime"] >= timeline["StartDateTime"]


def test_termination_request_passes_through_terminating(lifecycle, backend, clock):
    cluster = make_cluster(backend, steps=[step("long")])
    lifecycle.adopt(cluster)
    run(lifecycle, clock, cluster, TIMINGS.starting + TIMINGS.bootstrapping + 10)
    assert cluster.steps[0].state == "RUNNING"

    lifecycle.request_termination(cluster.id)

    assert cluster.state == "TERMINATING"
    assert cluster.steps[0].state == "CANCELLED"
    assert run(lifecycle, clock, cluster, 100) == ["TERMINATING", "TERMINATED"]
    assert cluster.status["StateChangeReason"] == {
        "Code": "USER_REQUEST",
        "Message": "Terminated by user request",
    }


def test_steps_added_to_a_waiting_cluster_wait_in_pending(lifecycle, backend, clock):
    cluster = make_cluster(backend)
    lifecycle.adopt(cluster)
    run(lifecycle, clock, cluster, 100)

    added = backend.add_job_flow_steps(cluster.id, [step("late")])
    lifecycle.steps_added(cluster.id, added)

    assert cluster.state == "WAITING"
    assert added[0].state == "PENDING"
    run(lifecycle, clock, cluster, 100)
    assert added[0].state == "COMPLETED"


def test_idle_cluster_ends_after_its_idle_timeout(backend, clock):
    timings = TIMINGS.replace(idle_timeout_factor=0.5)
    lifecycle = EmrLifecycle(timings, clock=clock)
    cluster = make_cluster(backend, keep_alive=True)
    lifecycle.adopt(cluster, idle_timeout=120)
    run(lifecycle, clock, cluster, TIMINGS.starting + TIMINGS.bootstrapping + 1)
    assert cluster.state == "WAITING"

    run(lifecycle, clock, cluster, 58)
    assert cluster.state == "WAITING"

    run(lifecycle, clock, cluster, 2)
    assert cluster.state == "TERMINATING"


def test_bootstrap_failure_ends_with_errors_without_becoming_ready(lifecycle, backend, clock):
    lifecycle.faults.add(FaultRule(name_contains="alice", fault="bootstrap_failure"))
    cluster = make_cluster(backend)
    lifecycle.adopt(cluster)

    seen = run(lifecycle, clock, cluster, 300)

    assert seen == ["STARTING", "BOOTSTRAPPING", "TERMINATING", "TERMINATED_WITH_ERRORS"]
    assert cluster.status["StateChangeReason"]["Code"] == "BOOTSTRAP_FAILURE"
    assert cluster.status["Timeline"]["ReadyDateTime"] is None


def test_failed_step_with_terminate_cluster_cancels_the_rest_and_fails_the_cluster(
    lifecycle, backend, clock
):
    lifecycle.faults.add(FaultRule(name_contains="alice", fault="step_failed"))
    cluster = make_cluster(backend, steps=[step("first"), step("second")])
    lifecycle.adopt(cluster)

    run(lifecycle, clock, cluster, 300)

    assert [s.state for s in cluster.steps] == ["FAILED", "CANCELLED"]
    assert cluster.state == "TERMINATED_WITH_ERRORS"
    assert cluster.status["StateChangeReason"] == {
        "Code": "STEP_FAILURE",
        "Message": "Shut down as step failed",
    }


def test_failed_step_with_continue_lets_the_next_step_run(lifecycle, backend, clock):
    lifecycle.faults.add(FaultRule(name_contains="alice", fault="step_failed"))
    cluster = make_cluster(
        backend, steps=[step("first", "CONTINUE"), step("second")], keep_alive=False
    )
    lifecycle.adopt(cluster)

    run(lifecycle, clock, cluster, 300)

    assert [s.state for s in cluster.steps] == ["FAILED", "COMPLETED"]
    assert cluster.state == "TERMINATED"


def test_failed_step_with_cancel_and_wait_cancels_the_rest_and_keeps_waiting(
    lifecycle, backend, clock
):
    lifecycle.faults.add(FaultRule(name_contains="alice", fault="step_failed"))
    cluster = make_cluster(backend, steps=[step("first", "CANCEL_AND_WAIT"), step("second")])
    lifecycle.adopt(cluster)

    run(lifecycle, clock, cluster, 300)

    assert [s.state for s in cluster.steps] == ["FAILED", "CANCELLED"]
    assert cluster.state == "WAITING"


def test_spot_capacity_refusal_ends_a_spot_cluster_while_starting(lifecycle, backend, clock):
    lifecycle.faults.add(FaultRule(name_contains="alice", fault="spot_capacity_refused"))
    cluster = make_cluster(backend, core_market="SPOT")
    lifecycle.adopt(cluster)

    seen = run(lifecycle, clock, cluster, 300)

    assert seen == ["STARTING", "TERMINATING", "TERMINATED_WITH_ERRORS"]
    error = cluster.status["ErrorDetails"][0]
    assert error["ErrorCode"] == "INTERNAL_ERROR_EC2_INSUFFICIENT_CAPACITY_AZ"


def test_spot_capacity_rule_passes_over_an_on_demand_cluster(lifecycle, backend, clock):
    lifecycle.faults.add(FaultRule(name_contains="alice", fault="spot_capacity_refused"))
    cluster = make_cluster(backend, core_market="ON_DEMAND")
    lifecycle.adopt(cluster)

    run(lifecycle, clock, cluster, 300)

    assert cluster.state == "WAITING"
    assert [rule["fault"] for rule in lifecycle.faults.rules()] == ["spot_capacity_refused"]


def test_cluster_gone_from_moto_is_forgotten(lifecycle, backend, clock):
    cluster = make_cluster(backend)
    lifecycle.adopt(cluster)

    backend.clusters.clear()
    lifecycle.tick()

    assert lifecycle.get(cluster.id) is None
