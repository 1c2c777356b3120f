"""The local stack runs real Airflow with the FAB auth manager, on 127.0.0.1 only."""

from __future__ import annotations

import ipaddress

import httpx
import psutil
import pytest

from atmo_provider.embedded.demo import new_ssh_public_key
from tests.fixtures.stack import (
    FAILING_DAG_ID,
    FAILURE_MESSAGE,
    TINY_DAG_FILE,
    TINY_DAG_ID,
)

pytestmark = pytest.mark.harness

RUN_TIMEOUT = 180


def _run_to_end(client, dag_id: str, filename: str, conf: dict | None = None) -> tuple[str, dict]:
    client.wait_for_dag(dag_id, timeout=RUN_TIMEOUT, filename=filename)
    client.unpause(dag_id)
    run_id = client.trigger(dag_id, conf)
    return run_id, client.wait_for_dag_run(dag_id, run_id, timeout=RUN_TIMEOUT)


def _is_loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def _listening_addresses(pids: list[int]) -> set[tuple[str, int]]:
    addresses = set()
    for pid in pids:
        try:
            connections = psutil.Process(pid).net_connections(kind="inet")
        except psutil.NoSuchProcess:
            continue
        addresses.update(
            (conn.laddr.ip, conn.laddr.port)
            for conn in connections
            if conn.status == psutil.CONN_LISTEN
        )
    return addresses


def test_every_component_reports_healthy(airflow_stack):
    health = httpx.get(f"{airflow_stack.base_url}/api/v2/monitor/health", timeout=10).json()

    states = {name: health[name]["status"] for name in ("scheduler", "triggerer", "dag_processor")}

    assert states == {"scheduler": "healthy", "triggerer": "healthy", "dag_processor": "healthy"}


def test_api_refuses_requests_without_a_token(airflow_stack):
    response = httpx.get(f"{airflow_stack.base_url}/api/v2/dags", timeout=10)

    assert response.status_code == 401


def test_api_refuses_a_wrong_password(airflow_stack):
    response = httpx.post(
        f"{airflow_stack.base_url}/auth/token",
        json={"username": "admin", "password": "not-the-password"},
        timeout=10,
    )

    assert response.status_code == 401


def test_every_local_user_can_log_in(airflow_stack):
    tokens = {
        username: airflow_stack.client(username).token()
        for username, _password, _roles in airflow_stack.logins()
    }

    assert sorted(tokens) == ["admin", "analyst", "maintainer"]
    assert all(tokens.values())


def test_dag_triggered_through_the_api_runs_to_success(airflow_stack):
    client = airflow_stack.client()

    run_id, run = _run_to_end(client, TINY_DAG_ID, TINY_DAG_FILE)

    assert run["state"] == "success"
    assert client.xcom(TINY_DAG_ID, run_id, "answer") == 42


def test_log_of_a_failed_task_shows_its_error(airflow_stack):
    client = airflow_stack.client()

    run_id, run = _run_to_end(client, FAILING_DAG_ID, TINY_DAG_FILE)

    assert run["state"] == "failed"
    assert FAILURE_MESSAGE in client.task_log(FAILING_DAG_ID, run_id, "fail")


def test_every_listening_socket_is_on_loopback_after_a_task_ran(airflow_stack):
    _run_to_end(airflow_stack.client(), TINY_DAG_ID, TINY_DAG_FILE)

    addresses = _listening_addresses(airflow_stack.pids())

    assert ("127.0.0.1", airflow_stack.api_port) in addresses
    assert ("127.0.0.1", airflow_stack.aws_port) in addresses
    assert [address for address in addresses if not _is_loopback(address[0])] == []


def test_launch_cluster_dag_gets_a_waiting_cluster_from_the_embedded_aws(airflow_stack):
    import boto3

    client = airflow_stack.client()
    conf = {
        "identifier": "harness-launch",
        "size": 1,
        "lifetime": 2,
        "ssh_public_key": new_ssh_public_key(),
    }

    run_id, run = _run_to_end(client, "atmo_launch_cluster", "atmo_launch_cluster.py", conf)

    assert run["state"] == "success"
    job_flow_id = client.xcom("atmo_launch_cluster", run_id, "create_cluster")
    emr = boto3.client(
        "emr",
        endpoint_url=airflow_stack.aws_endpoint_url,
        region_name=airflow_stack.region_name,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    state = emr.describe_cluster(ClusterId=job_flow_id)["Cluster"]["Status"]["State"]
    emr.terminate_job_flows(JobFlowIds=[job_flow_id])
    assert state == "WAITING"
