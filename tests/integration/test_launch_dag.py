"""The launch DAG against the embedded AWS: a good request gives a WAITING cluster, a bad one
is refused before any EMR call."""

from __future__ import annotations

import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.conftest import ROOT

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ssh_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()


@pytest.fixture(autouse=True)
def records(tmp_path, monkeypatch):
    """A migrated records database of its own for each test: the launch writes to it."""
    from atmo_provider.records.db import dispose_engines
    from atmo_provider.records.migrate import migrate

    monkeypatch.setenv("AIRFLOW_CONN_ATMO_DEFAULT", f"sqlite:///{tmp_path / 'atmo.db'}")
    migrate("atmo_default")
    yield
    dispose_engines()


@pytest.fixture
def fast_polls(monkeypatch):
    """Poll every fraction of a second: the embedded AWS moves clusters on that fast."""
    monkeypatch.setenv("AIRFLOW__ATMO__POLL_INTERVAL", "1")


@pytest.fixture(scope="module")
def launch_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags" / "atmo_launch_cluster.py"))
    assert bag.import_errors == {}
    return bag.dags["atmo_launch_cluster"]


def run_job_flow_calls(aws) -> int:
    return aws.control.call_counts().get("emr", {}).get("RunJobFlow", 0)


def clusters_named(aws, name: str) -> list[dict]:
    emr = aws.client("emr")
    return [
        emr.describe_cluster(ClusterId=summary["Id"])["Cluster"]
        for page in emr.get_paginator("list_clusters").paginate()
        for summary in page["Clusters"]
        if summary["Name"] == name
    ]


def states(run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def test_launch_gives_one_waiting_cluster(
    airflow_db, clean_embedded_aws, fast_polls, launch_dag, ssh_key
):
    identifier = f"launch-{uuid.uuid4().hex[:8]}"

    run = launch_dag.test(
        run_conf={"identifier": identifier, "size": 2, "lifetime": 4, "ssh_public_key": ssh_key}
    )

    assert run.state == "success", states(run)
    (cluster,) = clusters_named(clean_embedded_aws, f"atmo-dev-cluster-dag_test-{identifier}")
    assert cluster["Status"]["State"] == "WAITING"
    tags = {tag["Key"]: tag["Value"] for tag in cluster["Tags"]}
    assert tags["atmo:task-instance"].startswith(f"atmo_launch_cluster/{run.run_id}/")
    assert run_job_flow_calls(clean_embedded_aws) == 1


def test_conf_refused_by_the_schema_creates_no_run_and_no_cluster(
    airflow_db, clean_embedded_aws, launch_dag, ssh_key
):
    from airflow.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match="size"):
        launch_dag.test(run_conf={"size": 0, "ssh_public_key": ssh_key})

    assert run_job_flow_calls(clean_embedded_aws) == 0


def test_damaged_key_fails_validation_once_and_launches_nothing(
    airflow_db, clean_embedded_aws, launch_dag, ssh_key
):
    run = launch_dag.test(run_conf={"ssh_public_key": ssh_key[:50]})

    assert run.state == "failed"
    task_states = states(run)
    assert task_states["validate_request"] == "failed"
    assert task_states["create_cluster"] == "upstream_failed"
    (validate,) = [ti for ti in run.get_task_instances() if ti.task_id == "validate_request"]
    assert validate.try_number == 1
    assert run_job_flow_calls(clean_embedded_aws) == 0


def test_other_owner_named_by_a_non_admin_launches_nothing(
    airflow_db, clean_embedded_aws, launch_dag, ssh_key
):
    run = launch_dag.test(run_conf={"ssh_public_key": ssh_key, "owner": "somebody-else"})

    assert run.state == "failed"
    assert states(run)["validate_request"] == "failed"
    assert run_job_flow_calls(clean_embedded_aws) == 0


def test_trigger_with_bad_conf_is_refused_before_the_run_exists(airflow_db, launch_dag, ssh_key):
    """``airflow dags trigger`` and the REST API both create runs through ``create_dagrun``."""
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.collection import update_dag_parsing_results_in_db
    from airflow.exceptions import ParamValidationError
    from airflow.models.dagrun import DagRun
    from airflow.serialization.serialized_objects import LazyDeserializedDAG
    from airflow.utils.session import create_session
    from airflow.utils.types import DagRunTriggeredByType

    with create_session() as session:
        DagBundlesManager().sync_bundles_to_db(session=session)
        session.flush()
        update_dag_parsing_results_in_db(
            "dags-folder",
            None,
            [LazyDeserializedDAG.from_dag(launch_dag)],
            {},
            None,
            set(),
            session=session,
        )
    run_id = f"refused-{uuid.uuid4().hex[:8]}"

    with pytest.raises(ParamValidationError, match="lifetime"):
        trigger_dag(
            "atmo_launch_cluster",
            run_id=run_id,
            conf={"lifetime": 30, "ssh_public_key": ssh_key},
            triggered_by=DagRunTriggeredByType.CLI,
            triggering_user_name="ada",
        )

    assert DagRun.find(dag_id="atmo_launch_cluster", run_id=run_id) == []
