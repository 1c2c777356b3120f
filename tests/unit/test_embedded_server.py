"""The embedded AWS seen through boto3: EMR lifecycle, faults, paging and call counts."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from typing import Any

import pytest
from botocore.exceptions import ClientError

from atmo_provider.embedded.control import EmbeddedAwsControlError


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def run_job_flow(
    emr: Any,
    name: str,
    *,
    steps: tuple[str, ...] = (),
    keep_alive: bool = True,
    core_market: str = "ON_DEMAND",
    action_on_failure: str = "TERMINATE_CLUSTER",
    **extra: Any,
) -> str:
    core: dict[str, Any] = {
        "Name": "Core",
        "InstanceRole": "CORE",
        "InstanceType": "c3.4xlarge",
        "InstanceCount": 2,
        "Market": core_market,
    }
    if core_market == "SPOT":
        core["BidPrice"] = "0.84"
    response = emr.run_job_flow(
        Name=name,
        LogUri=f"s3://atmo-logs/clusters/{name}/",
        ReleaseLabel="emr-6.15.0",
        Instances={
            "InstanceGroups": [
                {
                    "Name": "Master",
                    "InstanceRole": "MASTER",
                    "InstanceType": "c3.4xlarge",
                    "InstanceCount": 1,
                    "Market": "ON_DEMAND",
                },
                core,
            ],
            "KeepJobFlowAliveWhenNoSteps": keep_alive,
        },
        JobFlowRole="EMR_EC2_DefaultRole",
        ServiceRole="EMR_DefaultRole",
        Steps=[
            {
                "Name": step,
                "ActionOnFailure": action_on_failure,
                "HadoopJarStep": {"Jar": "command-runner.jar", "Args": ["echo", step]},
            }
            for step in steps
        ],
        **extra,
    )
    return response["JobFlowId"]


def watch(emr: Any, cluster_id: str, until: set[str], timeout: float = 20.0) -> list[str]:
    """Poll a cluster until its state is in ``until``; return the distinct states seen."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]["Status"]["State"]
        if not seen or seen[-1] != state:
            seen.append(state)
        if state in until:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"cluster {cluster_id} never reached {until}; seen {seen}")


def describe(emr: Any, cluster_id: str) -> dict[str, Any]:
    return emr.describe_cluster(ClusterId=cluster_id)["Cluster"]


def steps_in_order(emr: Any, cluster_id: str) -> list[dict[str, Any]]:
    # ListSteps answers newest first.
    return list(reversed(emr.list_steps(ClusterId=cluster_id)["Steps"]))


ENDED = {"TERMINATED", "TERMINATED_WITH_ERRORS"}


@pytest.fixture
def emr(clean_embedded_aws):
    return clean_embedded_aws.client("emr")


def test_cluster_is_starting_right_after_run_job_flow(emr):
    cluster_id = run_job_flow(emr, unique("starting"))

    status = describe(emr, cluster_id)["Status"]

    assert status["State"] == "STARTING"
    assert "ReadyDateTime" not in status["Timeline"]


def test_cluster_lives_in_the_region_of_the_request(emr):
    cluster_id = run_job_flow(emr, unique("region"))

    assert ":us-west-2:" in describe(emr, cluster_id)["ClusterArn"]


def test_cluster_states_follow_in_order_no_sooner_than_the_timings(emr, clean_embedded_aws):
    clean_embedded_aws.control.set_timings("fast", starting=0.6, bootstrapping=0.6)
    before = time.monotonic()
    cluster_id = run_job_flow(emr, unique("order"))
    first_seen: dict[str, float] = {}

    while "WAITING" not in first_seen and time.monotonic() - before < 20:
        state = describe(emr, cluster_id)["Status"]["State"]
        first_seen.setdefault(state, time.monotonic() - before)
        time.sleep(0.02)

    assert list(first_seen) == ["STARTING", "BOOTSTRAPPING", "WAITING"]
    assert first_seen["BOOTSTRAPPING"] >= 0.6
    assert first_seen["WAITING"] >= 1.2


def test_ready_cluster_reports_ready_time_and_master_dns_name(emr):
    cluster_id = run_job_flow(emr, unique("ready"))
    assert "MasterPublicDnsName" not in describe(emr, cluster_id)

    watch(emr, cluster_id, {"WAITING"})
    cluster = describe(emr, cluster_id)

    assert "ReadyDateTime" in cluster["Status"]["Timeline"]
    assert cluster["MasterPublicDnsName"].endswith(".us-west-2.compute.amazonaws.com")


def test_job_steps_complete_in_order_then_the_cluster_terminates(emr):
    cluster_id = run_job_flow(emr, unique("job"), steps=("setup", "notebook"), keep_alive=False)

    seen = watch(emr, cluster_id, ENDED)

    assert seen[-3:] == ["RUNNING", "TERMINATING", "TERMINATED"]
    assert describe(emr, cluster_id)["Status"]["StateChangeReason"] == {
        "Code": "ALL_STEPS_COMPLETED",
        "Message": "Steps completed",
    }
    steps = steps_in_order(emr, cluster_id)
    assert [s["Status"]["State"] for s in steps] == ["COMPLETED", "COMPLETED"]
    first_end = steps[0]["Status"]["Timeline"]["EndDateTime"]
    assert steps[1]["Status"]["Timeline"]["StartDateTime"] >= first_end


def test_keep_alive_cluster_stays_waiting_after_its_steps(emr):
    cluster_id = run_job_flow(emr, unique("keep"), steps=("only",), keep_alive=True)
    watch(emr, cluster_id, {"RUNNING"})

    watch(emr, cluster_id, {"WAITING"})
    time.sleep(1.0)

    assert describe(emr, cluster_id)["Status"]["State"] == "WAITING"
    assert steps_in_order(emr, cluster_id)[0]["Status"]["State"] == "COMPLETED"


def test_terminate_job_flows_passes_through_terminating(emr):
    cluster_id = run_job_flow(emr, unique("terminate"))
    watch(emr, cluster_id, {"WAITING"})

    emr.terminate_job_flows(JobFlowIds=[cluster_id])

    assert describe(emr, cluster_id)["Status"]["State"] == "TERMINATING"
    assert watch(emr, cluster_id, ENDED) == ["TERMINATING", "TERMINATED"]
    status = describe(emr, cluster_id)["Status"]
    assert status["StateChangeReason"] == {
        "Code": "USER_REQUEST",
        "Message": "Terminated by user request",
    }
    assert "EndDateTime" in status["Timeline"]


def test_steps_cannot_be_added_to_a_terminated_cluster(emr):
    cluster_id = run_job_flow(emr, unique("ended"), keep_alive=False)
    watch(emr, cluster_id, ENDED)

    with pytest.raises(ClientError, match="may not be modified") as caught:
        emr.add_job_flow_steps(
            JobFlowId=cluster_id,
            Steps=[{"Name": "late", "HadoopJarStep": {"Jar": "command-runner.jar"}}],
        )

    assert caught.value.response["Error"]["Code"] == "ValidationException"


def test_bootstrap_failure_fault_ends_the_cluster_with_bootstrap_failure(emr, clean_embedded_aws):
    name = unique("bootfail")
    clean_embedded_aws.control.add_fault(name_contains=name, fault="bootstrap_failure")
    cluster_id = run_job_flow(emr, name)

    seen = watch(emr, cluster_id, ENDED)

    assert "WAITING" not in seen
    assert seen[-3:] == ["BOOTSTRAPPING", "TERMINATING", "TERMINATED_WITH_ERRORS"]
    assert describe(emr, cluster_id)["Status"]["StateChangeReason"]["Code"] == "BOOTSTRAP_FAILURE"


def test_terminated_with_errors_fault_reports_the_code_and_message_given(emr, clean_embedded_aws):
    name = unique("twe")
    clean_embedded_aws.control.add_fault(
        name_contains=name, fault="terminated_with_errors", code="INTERNAL_ERROR", message="boom"
    )
    cluster_id = run_job_flow(emr, name)

    watch(emr, cluster_id, ENDED)

    status = describe(emr, cluster_id)["Status"]
    assert status["State"] == "TERMINATED_WITH_ERRORS"
    assert status["StateChangeReason"] == {"Code": "INTERNAL_ERROR", "Message": "boom"}


def test_step_failed_fault_reports_failure_details_and_applies_action_on_failure(
    emr, clean_embedded_aws
):
    name = unique("stepfail")
    clean_embedded_aws.control.add_fault(
        name_contains=name, fault="step_failed", message="PapermillExecutionError in cell 3"
    )
    cluster_id = run_job_flow(emr, name, steps=("notebook", "after"), keep_alive=False)

    watch(emr, cluster_id, ENDED)

    steps = steps_in_order(emr, cluster_id)
    assert [s["Status"]["State"] for s in steps] == ["FAILED", "CANCELLED"]
    details = steps[0]["Status"]["FailureDetails"]
    assert details["Reason"] == "Unknown Error"
    assert details["Message"] == "PapermillExecutionError in cell 3"
    assert details["LogFile"] == (
        f"s3://atmo-logs/clusters/{name}/{cluster_id}/steps/{steps[0]['Id']}/stderr.gz"
    )
    status = describe(emr, cluster_id)["Status"]
    assert (status["State"], status["StateChangeReason"]["Code"]) == (
        "TERMINATED_WITH_ERRORS",
        "STEP_FAILURE",
    )


def test_step_cancelled_fault_cancels_the_first_step(emr, clean_embedded_aws):
    name = unique("stepcancel")
    clean_embedded_aws.control.add_fault(name_contains=name, fault="step_cancelled")
    cluster_id = run_job_flow(emr, name, steps=("notebook",), keep_alive=False)

    watch(emr, cluster_id, ENDED)

    step = steps_in_order(emr, cluster_id)[0]
    assert step["Status"]["State"] == "CANCELLED"
    assert step["Status"]["StateChangeReason"] == {"Message": "Cancelled by user request"}


def test_no_log_uri_fault_drops_the_log_uri_from_the_description(emr, clean_embedded_aws):
    name = unique("nologs")
    clean_embedded_aws.control.add_fault(name_contains=name, fault="no_log_uri")

    cluster_id = run_job_flow(emr, name)

    assert "LogUri" not in describe(emr, cluster_id)


def test_spot_capacity_refused_fault_ends_a_spot_cluster_while_starting(emr, clean_embedded_aws):
    name = unique("spot")
    clean_embedded_aws.control.add_fault(name_contains=name, fault="spot_capacity_refused")
    cluster_id = run_job_flow(emr, name, core_market="SPOT")

    seen = watch(emr, cluster_id, ENDED)

    assert seen == ["STARTING", "TERMINATING", "TERMINATED_WITH_ERRORS"]
    status = describe(emr, cluster_id)["Status"]
    assert status["StateChangeReason"]["Code"] == "INTERNAL_ERROR"
    assert "Spot capacity" in status["StateChangeReason"]["Message"]
    error = status["ErrorDetails"][0]
    assert error["ErrorCode"] == "INTERNAL_ERROR_EC2_INSUFFICIENT_CAPACITY_AZ"
    assert error["ErrorData"] == [
        {"instance-types": "c3.4xlarge", "availability-zone": "us-west-2a"}
    ]


def test_fault_rule_applies_to_as_many_clusters_as_its_times(emr, clean_embedded_aws):
    name = unique("twice")
    clean_embedded_aws.control.add_fault(name_contains=name, fault="no_log_uri", times=2)

    clusters = [run_job_flow(emr, f"{name}-{index}") for index in range(3)]

    assert ["LogUri" in describe(emr, cluster_id) for cluster_id in clusters] == [
        False,
        False,
        True,
    ]


def test_control_api_refuses_an_unknown_fault_and_names_the_allowed_ones(clean_embedded_aws):
    with pytest.raises(EmbeddedAwsControlError, match="400.*fault must be one of"):
        clean_embedded_aws.control.add_fault(name_contains="x", fault="meteor_strike")


def test_list_clusters_answers_pages_of_50_newest_first(emr):
    # CreatedAfter travels as whole seconds: leave a quiet second before the first cluster.
    time.sleep(1.1)
    since = datetime.now(timezone.utc)
    created = [run_job_flow(emr, unique("page"), keep_alive=False) for _ in range(120)]

    pages = list(emr.get_paginator("list_clusters").paginate(CreatedAfter=since))

    assert [len(page["Clusters"]) for page in pages] == [50, 50, 20]
    listed = [cluster for page in pages for cluster in page["Clusters"]]
    assert {cluster["Id"] for cluster in listed} == set(created)
    creation = [cluster["Status"]["Timeline"]["CreationDateTime"] for cluster in listed]
    assert creation == sorted(creation, reverse=True)


def test_list_clusters_filters_by_state(emr):
    cluster_id = run_job_flow(emr, unique("filter"))

    starting = emr.list_clusters(ClusterStates=["STARTING"])["Clusters"]
    waiting = emr.list_clusters(ClusterStates=["WAITING"])["Clusters"]

    assert cluster_id in {cluster["Id"] for cluster in starting}
    assert cluster_id not in {cluster["Id"] for cluster in waiting}


def test_call_counts_name_each_action_since_reset(clean_embedded_aws):
    emr, s3 = clean_embedded_aws.client("emr"), clean_embedded_aws.client("s3")
    cluster_id = run_job_flow(emr, unique("count"))
    describe(emr, cluster_id)
    describe(emr, cluster_id)
    emr.list_steps(ClusterId=cluster_id)
    s3.put_object(Bucket="atmo-code", Key="count/a.txt", Body=b"a")
    s3.get_object(Bucket="atmo-code", Key="count/a.txt")
    s3.list_objects_v2(Bucket="atmo-code", Prefix="count/")

    counts = clean_embedded_aws.control.call_counts()

    assert counts == {
        "emr": {"RunJobFlow": 1, "DescribeCluster": 2, "ListSteps": 1},
        "s3": {"PutObject": 1, "GetObject": 1, "ListObjectsV2": 1},
    }


def test_reset_clears_fault_rules_and_call_counts(clean_embedded_aws):
    control = clean_embedded_aws.control
    control.add_fault(name_contains="nobody", fault="no_log_uri")
    clean_embedded_aws.client("emr").list_clusters()

    control.reset()

    assert control.faults() == []
    assert control.call_counts() == {}


def test_idle_timeout_below_emr_minimum_is_refused(emr):
    with pytest.raises(ClientError, match="IdleTimeout must be between 60 and 604800"):
        run_job_flow(emr, unique("idle"), AutoTerminationPolicy={"IdleTimeout": 30})


def test_auto_termination_policy_reads_back(emr):
    cluster_id = run_job_flow(emr, unique("policy"), AutoTerminationPolicy={"IdleTimeout": 3600})

    policy = emr.get_auto_termination_policy(ClusterId=cluster_id)["AutoTerminationPolicy"]

    assert policy == {"IdleTimeout": 3600}


def test_idle_cluster_ends_after_its_auto_termination_timeout(emr):
    # The fast timings scale an IdleTimeout of 60 s down to 0.6 s.
    cluster_id = run_job_flow(emr, unique("idle"), AutoTerminationPolicy={"IdleTimeout": 60})

    seen = watch(emr, cluster_id, ENDED)

    assert seen[-3:] == ["WAITING", "TERMINATING", "TERMINATED"]
