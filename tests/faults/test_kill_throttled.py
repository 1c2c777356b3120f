"""A task killed or timed out while its cluster starts, with the terminate call throttled: the
cluster still ends. The same scenarios without faults are in tests/integration."""

from __future__ import annotations

import asyncio

import pytest

from atmo_provider.embedded.fault_proxy import WireRule
from atmo_provider.errors import EmrFailure
from tests.integration.helpers_aws import (
    POLL,
    run_in_thread,
    state_of,
    task_context,
    wait_for_link,
)
from tests.integration.test_cluster_dags import _ready_trigger, _start_cluster, _trigger_timeout

pytestmark = pytest.mark.integration

GOING_OR_GONE = {"TERMINATING", "TERMINATED"}

#: More throttled answers than botocore's own attempts, so the provider's backoff must retry.
THROTTLED_TERMINATE = [WireRule("TerminateJobFlows", "throttle", service="emr", times=3)]


@pytest.fixture
def slow_start(clean_embedded_aws, fault_proxy, short_sleeps):
    """Clusters stay STARTING for 30 s; the next three TerminateJobFlows calls are throttled."""
    clean_embedded_aws.control.set_timings(starting=30)
    fault_proxy.set_rules(THROTTLED_TERMINATE)
    return clean_embedded_aws


def test_killing_the_polling_sensor_terminates_the_cluster_through_throttling(
    slow_start, fault_proxy
):
    from atmo_provider.sensors.cluster import AtmoClusterReadySensor

    fault_proxy.set_rules([])
    jobflow_id = _start_cluster("killed-throttled-1")
    sensor = AtmoClusterReadySensor(
        task_id="ready", job_flow_id=jobflow_id, deferrable=False, poll_interval=POLL
    )
    context = task_context("atmo_fault_kill", "ready")
    worker = run_in_thread(sensor.execute, context)
    wait_for_link(context)
    fault_proxy.set_rules(THROTTLED_TERMINATE)

    sensor.on_kill()

    assert fault_proxy.counts("throttle") == {"emr": {"TerminateJobFlows": 3}}
    assert state_of(slow_start.client("emr"), jobflow_id) in GOING_OR_GONE
    assert isinstance(worker.result(timeout=30), EmrFailure)


def test_killing_the_deferred_sensor_terminates_the_cluster_through_throttling(
    slow_start, fault_proxy
):
    jobflow_id = _start_cluster("killed-throttled-2")

    asyncio.run(_ready_trigger(jobflow_id).on_kill())

    assert fault_proxy.counts("throttle") == {"emr": {"TerminateJobFlows": 3}}
    assert state_of(slow_start.client("emr"), jobflow_id) in GOING_OR_GONE


def test_a_deferral_timeout_terminates_the_cluster_through_throttling(slow_start, fault_proxy):
    from airflow.sdk.exceptions import AirflowSensorTimeout

    from atmo_provider.sensors.cluster import AtmoClusterReadySensor

    jobflow_id = _start_cluster("timed-out-throttled-1")
    sensor = AtmoClusterReadySensor(task_id="ready", job_flow_id=jobflow_id, poll_interval=POLL)
    context = {**task_context("atmo_fault_timeout", "ready"), "task": sensor}

    with pytest.raises(AirflowSensorTimeout):
        sensor.resume_execution("__fail__", {"error": _trigger_timeout()}, context)

    assert fault_proxy.counts("throttle") == {"emr": {"TerminateJobFlows": 3}}
    assert state_of(slow_start.client("emr"), jobflow_id) in GOING_OR_GONE
