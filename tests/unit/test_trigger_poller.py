"""The shared EMR poll of the triggerer: one ListClusters per interval for every waiting trigger.

Each test starts its clusters in a region of its own, so the listing holds only them.
"""

from __future__ import annotations

import asyncio
import math
from datetime import datetime, timedelta, timezone

import pytest

from atmo_provider.triggers.cluster import AtmoClusterStateTrigger
from atmo_provider.triggers.poller import EmrStatePoller, shared_poller

CONN = "aws_default"


def _start_clusters(handle, region: str, count: int) -> list[str]:
    import boto3

    emr = boto3.client(
        "emr",
        endpoint_url=handle.endpoint_url,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return [
        emr.run_job_flow(
            Name=f"poller-{region}-{number}",
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


def _an_hour_ago() -> datetime:
    return datetime.now(timezone.utc) - timedelta(hours=1)


def _emr_calls(handle) -> dict[str, int]:
    return handle.control.call_counts().get("emr", {})


@pytest.mark.parametrize(
    ("count", "region"),
    [(1, "eu-north-1"), (50, "eu-south-1"), (51, "eu-south-2"), (120, "eu-central-2")],
)
def test_one_poll_reads_ceil_n_over_50_pages_and_describes_nothing(
    clean_embedded_aws, count, region
):
    clean_embedded_aws.control.set_timings(starting=60)
    ids = _start_clusters(clean_embedded_aws, region, count)

    async def poll() -> list:
        poller = EmrStatePoller(CONN, region)
        watches = [await poller.register(i, 3600, _an_hour_ago()) for i in ids]
        clean_embedded_aws.control.reset_call_counts()
        await poller.poll_once()
        for watch in watches:
            poller.unregister(watch)
        return [watch.answers.get_nowait() for watch in watches]

    answers = asyncio.run(poll())

    calls = _emr_calls(clean_embedded_aws)
    assert calls.get("ListClusters") == math.ceil(count / 50)
    assert "DescribeCluster" not in calls
    assert [(cluster["jobflow_id"], listed) for cluster, listed in answers] == [
        (i, True) for i in ids
    ]


def test_a_cluster_missing_from_the_listing_is_described_once(clean_embedded_aws):
    clean_embedded_aws.control.set_timings(starting=60)
    [jobflow_id] = _start_clusters(clean_embedded_aws, "eu-west-3", 1)
    later = datetime.now(timezone.utc) + timedelta(hours=1)

    async def poll() -> tuple:
        poller = EmrStatePoller(CONN, "eu-west-3")
        watch = await poller.register(jobflow_id, 3600, later)
        clean_embedded_aws.control.reset_call_counts()
        await poller.poll_once()
        poller.unregister(watch)
        return watch.answers.get_nowait()

    cluster, listed = asyncio.run(poll())

    assert _emr_calls(clean_embedded_aws) == {"ListClusters": 1, "DescribeCluster": 1}
    assert (cluster["jobflow_id"], cluster["state"], listed) == (jobflow_id, "STARTING", False)


def test_an_unknown_cluster_is_answered_with_an_error(clean_embedded_aws):
    async def poll():
        poller = EmrStatePoller(CONN, "eu-west-3")
        watch = await poller.register("j-NOSUCHCLUSTER", 3600, _an_hour_ago())
        await poller.poll_once()
        poller.unregister(watch)
        return await watch.next_answer()

    with pytest.raises(RuntimeError, match="Could not describe cluster j-NOSUCHCLUSTER"):
        asyncio.run(poll())


def test_registering_without_a_creation_time_describes_once_and_answers_with_it(
    clean_embedded_aws,
):
    clean_embedded_aws.control.set_timings(starting=60)
    [jobflow_id] = _start_clusters(clean_embedded_aws, "ca-central-1", 1)
    clean_embedded_aws.control.reset_call_counts()

    async def register() -> tuple:
        poller = EmrStatePoller(CONN, "ca-central-1")
        watch = await poller.register(jobflow_id, 3600)
        poller.unregister(watch)
        return watch, watch.answers.get_nowait()

    watch, (cluster, listed) = asyncio.run(register())

    assert _emr_calls(clean_embedded_aws) == {"DescribeCluster": 1}
    assert watch.created_after == cluster["creation_datetime"]
    assert not listed


def test_triggers_fire_from_the_shared_poll_which_stops_when_they_leave(clean_embedded_aws):
    ids = _start_clusters(clean_embedded_aws, "sa-east-1", 3)
    since = _an_hour_ago().isoformat()

    async def wait_all():
        poller = shared_poller(CONN, "sa-east-1")
        triggers = [
            AtmoClusterStateTrigger(
                job_flow_id=i,
                target_states={"WAITING", "RUNNING"},
                failure_states={"TERMINATED"},
                region_name="sa-east-1",
                poll_interval=0.2,
                created_after=since,
            )
            for i in ids
        ]
        events = await asyncio.gather(*(_first_event(t) for t in triggers))
        return events, poller, shared_poller(CONN, "sa-east-1")

    events, used, next_one = asyncio.run(wait_all())

    assert [(e["job_flow_id"], e["status"]) for e in events] == [(i, "success") for i in ids]
    assert not used.running and used.watched == set() and next_one is not used


def test_cleanup_of_a_waiting_trigger_leaves_the_poll_and_stops_it(clean_embedded_aws):
    clean_embedded_aws.control.set_timings(starting=60)
    [jobflow_id] = _start_clusters(clean_embedded_aws, "ap-northeast-3", 1)
    trigger = AtmoClusterStateTrigger(
        job_flow_id=jobflow_id,
        target_states={"WAITING"},
        region_name="ap-northeast-3",
        poll_interval=0.2,
        created_after=_an_hour_ago().isoformat(),
    )

    async def clean_up_while_waiting():
        poller = shared_poller(CONN, "ap-northeast-3")
        waiting = asyncio.ensure_future(_first_event(trigger))
        while jobflow_id not in poller.watched:
            await asyncio.sleep(0.05)
        await trigger.cleanup()
        watched, running = poller.watched, poller.running
        waiting.cancel()
        return watched, running

    watched, running = asyncio.run(clean_up_while_waiting())

    assert watched == set() and not running


def test_a_ready_event_carries_the_full_description(clean_embedded_aws):
    [jobflow_id] = _start_clusters(clean_embedded_aws, "ap-south-2", 1)
    trigger = AtmoClusterStateTrigger(
        job_flow_id=jobflow_id,
        target_states={"WAITING"},
        region_name="ap-south-2",
        poll_interval=0.2,
        created_after=_an_hour_ago().isoformat(),
    )

    event = asyncio.run(_first_event(trigger))

    assert event["cluster"]["release_label"] == "emr-6.15.0"


def test_the_creation_time_round_trips_through_serialize():
    trigger = AtmoClusterStateTrigger(
        job_flow_id="j-1", target_states={"TERMINATED"}, created_after="2026-01-02T03:04:05+00:00"
    )

    classpath, kwargs = trigger.serialize()

    assert kwargs["created_after"] == "2026-01-02T03:04:05+00:00"
    assert AtmoClusterStateTrigger(**kwargs).serialize() == (classpath, kwargs)


async def _first_event(trigger) -> dict:
    async for event in trigger.run():
        return event.payload
    raise AssertionError("the trigger ended without an event")
