"""A worker lost between launching a cluster and recording it; spot capacity refused; a cluster
description without ``LogUri``. Each ends with one cluster, known to the records."""

from __future__ import annotations

import datetime
import uuid

import pytest
from sqlalchemy import select

from atmo_provider.embedded.fault_proxy import WireRule
from atmo_provider.records.db import session_scope
from atmo_provider.records.models import Cluster
from atmo_provider.sync.adoption import ADOPTION_GRACE
from tests.integration.helpers_aws import (
    POLL,
    clusters_named,
    clusters_tagged,
    task_context,
    wait_for_state,
)
from tests.integration.test_records_dags import task_instances

pytestmark = pytest.mark.integration

UTC = datetime.timezone.utc


def _sync(engine, now: datetime.datetime) -> dict:
    from atmo_provider.provisioners import ClusterProvisioner, SparkJobProvisioner
    from atmo_provider.settings import get_settings
    from atmo_provider.sync import sync_with_emr

    settings = get_settings()
    clusters = ClusterProvisioner(settings)
    with session_scope(engine) as session:
        return sync_with_emr(
            session, clusters, SparkJobProvisioner(settings, emr=clusters.emr), now, settings
        )


def _records_of(engine, jobflow_id: str) -> list[Cluster]:
    with session_scope(engine) as session:
        found = session.scalars(select(Cluster).where(Cluster.jobflow_id == jobflow_id)).all()
        session.expunge_all()
        return list(found)


def _create_cluster(identifier: str, run_id: str) -> str:
    """Run the launch DAG's create_cluster task as a worker would, and nothing after it."""
    from atmo_provider.operators.cluster import AtmoCreateClusterOperator

    operator = AtmoCreateClusterOperator(
        task_id="create_cluster",
        identifier=identifier,
        owner="ada",
        owner_email="ada@example.com",
        ssh_public_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJada ada@example.com",
        lifetime=3,
        deferrable=False,
        poll_interval=POLL,
    )
    return operator.execute(task_context("atmo_launch_cluster", "create_cluster", run_id=run_id))


def test_a_worker_lost_before_the_record_write_leaves_a_cluster_the_sync_adopts_once(
    clean_embedded_aws,
    fault_proxy,
    short_sleeps,
    records,
):
    identifier = f"crash-{uuid.uuid4().hex[:6]}"
    run_id = f"manual__{identifier}"
    fault_proxy.set_rules([WireRule("*", "throttle", service="emr", share=0.3)], seed=3)
    jobflow_id = _create_cluster(identifier, run_id)
    wait_for_state(clean_embedded_aws.client("emr"), jobflow_id, {"WAITING"})
    later = datetime.datetime.now(UTC) + ADOPTION_GRACE + datetime.timedelta(minutes=1)

    first = _sync(records, later)
    second = _sync(records, later)

    assert first["adopted"] == [jobflow_id] and second["adopted"] == []
    [cluster] = _records_of(records, jobflow_id)
    assert cluster.task_instance_key == f"atmo_launch_cluster/{run_id}/create_cluster/-1"
    assert (cluster.created_by, cluster.identifier, cluster.lifetime) == ("ada", identifier, 3)
    tagged = clusters_tagged(clean_embedded_aws.client("emr"), cluster.task_instance_key)
    assert [found["Id"] for found in tagged] == [jobflow_id]


def test_a_refusal_of_spot_capacity_launches_on_demand_and_records_that_cluster(
    airflow_db,
    clean_embedded_aws,
    fault_proxy,
    short_sleeps,
    records,
    launch_dag,
    ssh_key,
    capfd,
):
    identifier = f"spotless-{uuid.uuid4().hex[:6]}"
    clean_embedded_aws.control.add_fault(name_contains=identifier, fault="spot_capacity_refused")
    fault_proxy.set_rules([WireRule("DescribeCluster", "throttle", share=0.3)], seed=5)

    run = launch_dag.test(
        run_conf={"identifier": identifier, "size": 2, "lifetime": 2, "ssh_public_key": ssh_key}
    )

    tis = task_instances(run)
    assert run.state == "success", {task: ti.state for task, ti in tis.items()}
    jobflow_id = tis["create_cluster"].xcom_pull(task_ids="create_cluster")
    emr = clean_embedded_aws.client("emr")
    groups = emr.list_instance_groups(ClusterId=jobflow_id)["InstanceGroups"]
    assert {group["Market"] for group in groups} == {"ON_DEMAND"}
    [cluster] = _records_of(records, jobflow_id)
    assert cluster.most_recent_status == "WAITING"
    named = clusters_named(emr, f"atmo-dev-cluster-dag_test-{identifier}")
    [refused] = [found for found in named if found["Id"] != jobflow_id]
    assert refused["Status"]["State"] == "TERMINATED_WITH_ERRORS"
    assert _records_of(records, refused["Id"]) == []
    assert "launching the cluster again on on-demand" in "".join(capfd.readouterr()).lower()


def test_a_job_cluster_without_log_uri_fails_with_emrs_reason_without_crashing(
    clean_embedded_aws, fault_proxy, short_sleeps
):
    from atmo_provider.errors import EmrFailure
    from tests.integration.test_spark_job_operator import _run_job

    identifier = f"no-logs-job-{uuid.uuid4().hex[:6]}"
    clean_embedded_aws.control.add_fault(name_contains=identifier, fault="no_log_uri")
    clean_embedded_aws.control.add_fault(name_contains=identifier, fault="step_failed")

    operator, context = _run_job(clean_embedded_aws, identifier)

    with pytest.raises(EmrFailure) as raised:
        operator.execute(context)

    assert "ended FAILED: Unknown Error; The step script exited with status 1" in str(raised.value)
    assert raised.value.reason_code == "STEP_FAILURE"
