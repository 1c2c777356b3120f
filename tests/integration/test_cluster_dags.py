"""Cluster DAGs against the embedded AWS: one cluster per launch, no orphans, clear failures."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from atmo_provider.errors import EmrFailure
from atmo_provider.provisioners import TASK_INSTANCE_TAG, ClusterProvisioner
from atmo_provider.settings import AtmoSettings
from tests.integration.helpers_aws import (
    POLL,
    clusters_named,
    clusters_tagged,
    fail_after_first_call,
    run_dag,
    run_in_thread,
    state_of,
    task_context,
    task_states,
    wait_for_link,
    wait_for_state,
)

pytestmark = pytest.mark.integration

START = datetime(2024, 1, 1, tzinfo=timezone.utc)
GOING_OR_GONE = {"TERMINATING", "TERMINATED"}


def _cluster_dag(dag_id: str, identifier: str, size: int = 1, retries: int = 0):
    from airflow.sdk import DAG

    from atmo_provider.operators.cluster import (
        AtmoCreateClusterOperator,
        AtmoTerminateClusterOperator,
    )
    from atmo_provider.sensors.cluster import (
        AtmoClusterReadySensor,
        AtmoClusterTerminatedSensor,
    )

    with DAG(dag_id, schedule=None, start_date=START) as dag:
        create = AtmoCreateClusterOperator(
            task_id="create",
            identifier=identifier,
            owner="jdoe",
            owner_email="jdoe@example.com",
            ssh_public_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdoe jdoe@example.com",
            size=size,
            lifetime=2,
            poll_interval=POLL,
            retries=retries,
            retry_delay=timedelta(0),
        )
        ready = AtmoClusterReadySensor(
            task_id="ready", job_flow_id=create.output, poll_interval=POLL
        )
        terminate = AtmoTerminateClusterOperator(task_id="terminate", job_flow_id=create.output)
        gone = AtmoClusterTerminatedSensor(
            task_id="gone", job_flow_id=create.output, poll_interval=POLL
        )
        terminate_again = AtmoTerminateClusterOperator(
            task_id="terminate_again", job_flow_id=create.output
        )
        create >> ready >> terminate >> gone >> terminate_again
    return dag


def _xcom(run, task_id: str, key: str = "return_value"):
    [ti] = [ti for ti in run.get_task_instances() if ti.task_id == task_id]
    return ti.xcom_pull(task_ids=task_id, key=key)


def _provisioner() -> ClusterProvisioner:
    return ClusterProvisioner(AtmoSettings())


def _start_cluster(identifier: str, tag: str | None = None) -> str:
    return _provisioner().start(
        "jdoe", "jdoe@example.com", identifier, "6.15.0", 1, "ssh-ed25519 AAAA", tag
    )


def test_create_ready_terminate_dag_leaves_one_terminated_cluster(airflow_db, clean_embedded_aws):
    emr = clean_embedded_aws.client("emr")

    run = run_dag(_cluster_dag("atmo_test_lifecycle", "lifecycle-1"))

    assert run.state == "success", task_states(run)
    jobflow_id = _xcom(run, "create")
    [cluster] = clusters_tagged(emr, f"atmo_test_lifecycle/{run.run_id}/create/-1")
    assert cluster["Id"] == jobflow_id
    assert cluster["Status"]["State"] == "TERMINATED"
    assert _xcom(run, "ready")["state"] in {"WAITING", "RUNNING"}


def test_terminating_a_terminated_cluster_succeeds(airflow_db, clean_embedded_aws):
    run = run_dag(_cluster_dag("atmo_test_terminate_twice", "twice-1"))

    assert task_states(run)["terminate_again"] == "success"
    assert _xcom(run, "terminate_again") == "TERMINATED"


def test_the_tasks_link_to_the_console_and_the_logs(airflow_db, clean_embedded_aws):
    run = run_dag(_cluster_dag("atmo_test_links", "links-1"))
    jobflow_id = _xcom(run, "create")

    console = _xcom(run, "create", "_link_EmrConsoleLink")
    logs = _xcom(run, "create", "_link_EmrClusterLogsLink")
    history = _xcom(run, "ready", "_link_SparkHistoryLink")

    assert console == (
        f"https://console.aws.amazon.com/emr/home?region=us-west-2#/clusterDetails/{jobflow_id}"
    )
    assert logs.startswith("https://s3.console.aws.amazon.com/s3/buckets/atmo-logs?region=")
    assert "prefix=clusters/links-1/" in logs and logs.endswith(f"/{jobflow_id}/")
    assert jobflow_id in history


def test_a_retried_create_reuses_the_cluster_of_the_failed_try(
    airflow_db, clean_embedded_aws, monkeypatch
):
    from atmo_provider.operators import cluster as cluster_operators

    emr = clean_embedded_aws.client("emr")
    original = cluster_operators.persist_cluster_link
    tries = []

    def fail_on_first_try(context, *args, **kwargs):
        if context["ti"].task_id == "create":
            tries.append(args[0])
            if len(tries) == 1:
                raise RuntimeError("worker lost after RunJobFlow")
        return original(context, *args, **kwargs)

    monkeypatch.setattr(cluster_operators, "persist_cluster_link", fail_on_first_try)

    run = run_dag(_cluster_dag("atmo_test_retry", "retry-1", retries=1))

    assert run.state == "success", task_states(run)
    assert len(tries) == 2 and tries[0] == tries[1]
    assert len(clusters_tagged(emr, f"atmo_test_retry/{run.run_id}/create/-1")) == 1
    assert clean_embedded_aws.control.call_counts()["emr"]["RunJobFlow"] == 1


def test_running_create_twice_in_the_same_run_launches_one_cluster(clean_embedded_aws):
    from atmo_provider.operators.cluster import AtmoCreateClusterOperator

    emr = clean_embedded_aws.client("emr")
    operator = AtmoCreateClusterOperator(
        task_id="create",
        identifier="twice-run-1",
        owner="jdoe",
        owner_email="jdoe@example.com",
        ssh_public_key="ssh-ed25519 AAAA",
        deferrable=False,
        poll_interval=POLL,
    )
    context = task_context("atmo_test_execute_twice", "create")

    first = operator.execute(context)
    second = operator.execute(context)

    assert first == second
    assert len(clusters_named(emr, "atmo-dev-cluster-jdoe-twice-run-1")) == 1


def test_clearing_create_after_its_cluster_ended_launches_no_second_cluster(clean_embedded_aws):
    from airflow.exceptions import AirflowFailException

    from atmo_provider.operators.cluster import AtmoCreateClusterOperator

    emr = clean_embedded_aws.client("emr")
    operator = AtmoCreateClusterOperator(
        task_id="create",
        identifier="cleared-run-1",
        owner="jdoe",
        owner_email="jdoe@example.com",
        ssh_public_key="ssh-ed25519 AAAA",
        deferrable=False,
        poll_interval=POLL,
    )
    context = task_context("atmo_test_clear_after_end", "create")
    jobflow_id = operator.execute(context)
    emr.terminate_job_flows(JobFlowIds=[jobflow_id])
    wait_for_state(emr, jobflow_id, {"TERMINATED"})

    with pytest.raises(AirflowFailException, match=f"already made cluster {jobflow_id}"):
        operator.execute(context)

    assert len(clusters_named(emr, "atmo-dev-cluster-jdoe-cleared-run-1")) == 1


def test_a_lost_runjobflow_answer_is_found_by_tag_before_a_new_attempt(clean_embedded_aws):
    emr = clean_embedded_aws.client("emr")
    provisioner = _provisioner()
    lost = ClientError(
        {"Error": {"Code": "ServiceUnavailable", "Message": "timed out"}}, "RunJobFlow"
    )
    fail_after_first_call(provisioner.emr, "run_job_flow", lost)
    params = provisioner.start_params(
        "jdoe", "jdoe@example.com", "lost-1", "6.15.0", 1, "ssh-ed25519 AAAA"
    )

    launch = provisioner.launch(
        params,
        task_instance_tag="atmo_test/lost/create/-1",
        created_after=datetime.now(timezone.utc) - timedelta(minutes=1),
        base=0.05,
    )

    assert launch.reused
    [cluster] = clusters_tagged(emr, "atmo_test/lost/create/-1")
    assert cluster["Id"] == launch.jobflow_id
    assert clean_embedded_aws.control.call_counts()["emr"]["RunJobFlow"] == 1


def test_a_refused_runjobflow_is_not_retried(clean_embedded_aws):
    provisioner = _provisioner()
    denied = ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "RunJobFlow"
    )
    fail_after_first_call(provisioner.emr, "run_job_flow", denied)
    params = provisioner.start_params(
        "jdoe", "jdoe@example.com", "denied-1", "6.15.0", 1, "ssh-ed25519 AAAA"
    )

    with pytest.raises(ClientError, match="AccessDenied"):
        provisioner.launch(params, task_instance_tag="atmo_test/denied/create/-1", base=0.05)

    assert clean_embedded_aws.control.call_counts()["emr"]["RunJobFlow"] == 1


def test_a_refusal_of_spot_capacity_relaunches_on_demand(airflow_db, clean_embedded_aws):
    emr = clean_embedded_aws.client("emr")
    clean_embedded_aws.control.add_fault(name_contains="spotless-1", fault="spot_capacity_refused")

    run = run_dag(_cluster_dag("atmo_test_spot", "spotless-1", size=2))

    assert run.state == "success", task_states(run)
    jobflow_id = _xcom(run, "create")
    clusters = {c["Id"]: c for c in clusters_named(emr, "atmo-dev-cluster-jdoe-spotless-1")}
    assert len(clusters) == 2
    [refused] = [c for c in clusters.values() if c["Id"] != jobflow_id]
    assert refused["Status"]["State"] == "TERMINATED_WITH_ERRORS"
    groups = emr.list_instance_groups(ClusterId=jobflow_id)["InstanceGroups"]
    assert {group["Market"] for group in groups} == {"ON_DEMAND"}


def test_the_ready_sensor_fails_with_emrs_reason_when_bootstrap_fails(
    airflow_db, clean_embedded_aws
):
    clean_embedded_aws.control.add_fault(name_contains="broken-boot-1", fault="bootstrap_failure")

    run = run_dag(_cluster_dag("atmo_test_bootstrap", "broken-boot-1"))

    states = task_states(run)
    assert (states["create"], states["ready"]) == ("success", "failed")
    cluster = wait_for_state(
        clean_embedded_aws.client("emr"), _xcom(run, "create"), {"TERMINATED_WITH_ERRORS"}
    )
    assert cluster["Status"]["StateChangeReason"]["Code"] == "BOOTSTRAP_FAILURE"


def test_the_ready_trigger_reports_the_failure_and_the_sensor_raises_it(clean_embedded_aws):
    from atmo_provider.sensors.cluster import AtmoClusterReadySensor

    clean_embedded_aws.control.add_fault(name_contains="broken-boot-2", fault="bootstrap_failure")
    jobflow_id = _start_cluster("broken-boot-2")
    sensor = AtmoClusterReadySensor(task_id="ready", job_flow_id=jobflow_id, poll_interval=POLL)
    trigger = _ready_trigger(jobflow_id)

    event = asyncio.run(_first_event(trigger))

    assert event["status"] == "failure"
    with pytest.raises(EmrFailure) as raised:
        sensor.execute_complete({}, event)
    assert raised.value.reason_code == "BOOTSTRAP_FAILURE"
    assert "bootstrap action 1 returned a non-zero exit code" in str(raised.value)


def test_the_ready_trigger_fires_once_the_cluster_is_ready(clean_embedded_aws):
    jobflow_id = _start_cluster("trigger-ready-1")

    event = asyncio.run(_first_event(_ready_trigger(jobflow_id)))

    assert event["status"] == "success"
    assert event["cluster"]["state"] in {"WAITING", "RUNNING"}
    assert event["cluster"]["jobflow_id"] == jobflow_id


def test_the_trigger_serializes_to_an_importable_classpath():
    from airflow.sdk._shared.module_loading import import_string

    trigger = _ready_trigger("j-1")

    classpath, kwargs = trigger.serialize()

    rebuilt = import_string(classpath)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)


def test_killing_the_waiting_sensor_terminates_the_cluster(clean_embedded_aws):
    from atmo_provider.sensors.cluster import AtmoClusterReadySensor

    clean_embedded_aws.control.set_timings(starting=30)
    jobflow_id = _start_cluster("killed-sensor-1")
    sensor = AtmoClusterReadySensor(
        task_id="ready", job_flow_id=jobflow_id, deferrable=False, poll_interval=POLL
    )
    context = task_context("atmo_test_kill", "ready")
    worker = run_in_thread(sensor.execute, context)
    wait_for_link(context)

    sensor.on_kill()

    assert state_of(clean_embedded_aws.client("emr"), jobflow_id) in GOING_OR_GONE
    assert isinstance(worker.result(timeout=30), EmrFailure)


def test_killing_the_deferred_sensor_terminates_the_cluster_from_the_trigger(clean_embedded_aws):
    clean_embedded_aws.control.set_timings(starting=30)
    jobflow_id = _start_cluster("killed-trigger-1")

    asyncio.run(_ready_trigger(jobflow_id).on_kill())

    assert state_of(clean_embedded_aws.client("emr"), jobflow_id) in GOING_OR_GONE


def test_a_trigger_not_owning_the_cluster_leaves_it_on_kill(clean_embedded_aws):
    from atmo_provider.aws.states import TERMINAL_STATES
    from atmo_provider.triggers.cluster import AtmoClusterStateTrigger

    clean_embedded_aws.control.set_timings(starting=30)
    jobflow_id = _start_cluster("kept-on-kill-1")
    trigger = AtmoClusterStateTrigger(
        job_flow_id=jobflow_id, target_states=TERMINAL_STATES, poll_interval=POLL
    )

    asyncio.run(trigger.on_kill())

    assert state_of(clean_embedded_aws.client("emr"), jobflow_id) == "STARTING"


def test_a_deferral_timeout_terminates_the_cluster(clean_embedded_aws):
    from airflow.sdk.exceptions import AirflowSensorTimeout

    from atmo_provider.sensors.cluster import AtmoClusterReadySensor

    clean_embedded_aws.control.set_timings(starting=30)
    jobflow_id = _start_cluster("timed-out-1")
    sensor = AtmoClusterReadySensor(task_id="ready", job_flow_id=jobflow_id, poll_interval=POLL)

    context = {**task_context("atmo_test_timeout", "ready"), "task": sensor}

    with pytest.raises(AirflowSensorTimeout):
        sensor.resume_execution("__fail__", {"error": _trigger_timeout()}, context)

    assert state_of(clean_embedded_aws.client("emr"), jobflow_id) in GOING_OR_GONE


def test_a_cluster_without_log_uri_is_described_and_watched(airflow_db, clean_embedded_aws):
    clean_embedded_aws.control.add_fault(name_contains="no-logs-1", fault="no_log_uri")

    run = run_dag(_cluster_dag("atmo_test_no_logs", "no-logs-1"))

    assert run.state == "success", task_states(run)
    jobflow_id = _xcom(run, "create")
    assert _provisioner().describe(jobflow_id)["log_uri"] is None
    assert _xcom(run, "ready", "_link_EmrClusterLogsLink") == ""


def test_a_cluster_outside_the_runs_tag_is_not_reused(clean_embedded_aws):
    emr = clean_embedded_aws.client("emr")
    other = _start_cluster("shared-name-1", tag="atmo_test/other-run/create/-1")
    provisioner = _provisioner()
    params = provisioner.start_params(
        "jdoe", "jdoe@example.com", "shared-name-1", "6.15.0", 1, "ssh-ed25519 AAAA"
    )

    launch = provisioner.launch(params, task_instance_tag="atmo_test/this-run/create/-1")

    assert launch.jobflow_id != other and not launch.reused
    tags = {
        tag["Key"]: tag["Value"]
        for tag in emr.describe_cluster(ClusterId=launch.jobflow_id)["Cluster"]["Tags"]
    }
    assert tags[TASK_INSTANCE_TAG] == "atmo_test/this-run/create/-1"


def _ready_trigger(jobflow_id: str):
    from atmo_provider.aws.states import ENDING_STATES, READY_STATES
    from atmo_provider.triggers.cluster import AtmoClusterStateTrigger

    return AtmoClusterStateTrigger(
        job_flow_id=jobflow_id,
        target_states=READY_STATES,
        failure_states=ENDING_STATES,
        aws_conn_id="aws_default",
        region_name="us-west-2",
        poll_interval=POLL,
        terminate_on_kill=True,
    )


async def _first_event(trigger) -> dict:
    async for event in trigger.run():
        return event.payload
    raise AssertionError("the trigger ended without an event")


def _trigger_timeout():
    from airflow.sdk.bases.operator import TriggerFailureReason

    return TriggerFailureReason.TRIGGER_TIMEOUT
