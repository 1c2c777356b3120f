"""Unit tests of the cluster operators, sensors and trigger: fields, arguments and parse time."""

from __future__ import annotations

import subprocess
import sys

import pytest

from atmo_provider.errors import AtmoValidationError
from atmo_provider.operators.cluster import (
    AtmoCreateClusterOperator,
    AtmoTerminateClusterOperator,
)
from atmo_provider.operators.common import created_after, task_instance_tag
from atmo_provider.sensors.cluster import AtmoClusterReadySensor, AtmoClusterTerminatedSensor
from atmo_provider.settings import AtmoSettings
from atmo_provider.triggers.cluster import AtmoClusterStateTrigger
from tests.conftest import ROOT
from tests.fixtures.embedded import aws_connection_json


@pytest.fixture(autouse=True)
def no_real_aws(monkeypatch):
    """Point aws_default at a closed local port, so that no test can reach a real AWS."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT", aws_connection_json("http://127.0.0.1:9", "us-west-2")
    )


def _create(**changes) -> AtmoCreateClusterOperator:
    arguments = {
        "task_id": "create",
        "identifier": "sunny-curie-1234",
        "owner": "jdoe",
        "owner_email": "jdoe@example.com",
        "ssh_public_key": "ssh-ed25519 AAAA",
        "settings": AtmoSettings(),
    }
    arguments.update(changes)
    return AtmoCreateClusterOperator(**arguments)


def test_importing_operators_sensors_and_triggers_loads_no_boto3():
    code = (
        "import sys;"
        "import atmo_provider.operators.cluster, atmo_provider.operators.spark_job;"
        "import atmo_provider.sensors.cluster, atmo_provider.triggers.cluster;"
        "import atmo_provider.links;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout

    assert output.strip().splitlines()[-1] == "[]"


def test_the_create_operator_templates_the_launch_fields():
    assert set(AtmoCreateClusterOperator.template_fields) == {
        "identifier",
        "owner_username",
        "owner_email",
        "ssh_public_key",
        "size",
        "lifetime",
        "emr_release",
    }


def test_the_owner_argument_is_the_templated_owner_username():
    operator = _create(owner="{{ params.owner }}")

    assert operator.owner_username == "{{ params.owner }}"


def test_sensors_and_terminate_template_the_job_flow_id():
    assert AtmoClusterReadySensor.template_fields == ("job_flow_id",)
    assert AtmoClusterTerminatedSensor.template_fields == ("job_flow_id",)
    assert AtmoTerminateClusterOperator.template_fields == ("job_flow_id",)


def test_the_ready_sensor_terminates_on_failure_by_default_the_terminated_one_does_not():
    ready = AtmoClusterReadySensor(task_id="ready", job_flow_id="j-1")
    gone = AtmoClusterTerminatedSensor(task_id="gone", job_flow_id="j-1")

    assert ready.terminate_on_failure is True
    assert gone.terminate_on_failure is False
    assert ready.deferrable and gone.deferrable


def test_a_poll_interval_sets_the_sensors_poke_interval():
    sensor = AtmoClusterReadySensor(task_id="ready", job_flow_id="j-1", poll_interval=0.5)

    assert sensor.poke_interval == 0.5


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"identifier": "Not_Valid"}, "identifier: must be 1 to 100 lowercase"),
        ({"lifetime": 30}, "lifetime: must be between 2 and 24 hours, got 30"),
        ({"lifetime": "soon"}, "lifetime: must be a whole number, got 'soon'"),
        ({"size": "many"}, "size: must be a whole number, got 'many'"),
        ({"size": 0}, "size: must be at least 1, got 0"),
    ],
)
def test_invalid_launch_arguments_are_refused_before_any_aws_call(changes, message):
    operator = _create(**changes)

    with pytest.raises(AtmoValidationError, match=message):
        operator.execute({})


def test_the_trigger_round_trips_through_serialize():
    trigger = AtmoClusterStateTrigger(
        job_flow_id="j-1",
        target_states={"WAITING", "RUNNING"},
        failure_states={"TERMINATED"},
        aws_conn_id="aws_x",
        region_name="eu-west-1",
        poll_interval=5,
        terminate_on_kill=True,
    )

    classpath, kwargs = trigger.serialize()

    assert classpath == "atmo_provider.triggers.cluster.AtmoClusterStateTrigger"
    assert kwargs == {
        "job_flow_id": "j-1",
        "target_states": ["RUNNING", "WAITING"],
        "failure_states": ["TERMINATED"],
        "aws_conn_id": "aws_x",
        "region_name": "eu-west-1",
        "poll_interval": 5,
        "terminate_on_kill": True,
    }


def test_the_launch_identity_is_dag_run_task_and_map_index():
    from types import SimpleNamespace

    ti = SimpleNamespace(dag_id="atmo_launch_cluster", run_id="manual__1", task_id="create")
    mapped = SimpleNamespace(
        dag_id="atmo_launch_cluster", run_id="manual__1", task_id="create", map_index=3
    )

    assert task_instance_tag({"ti": ti}) == "atmo_launch_cluster/manual__1/create/-1"
    assert task_instance_tag({"ti": mapped}) == "atmo_launch_cluster/manual__1/create/3"


def test_clusters_of_a_run_are_looked_for_from_shortly_before_it_started():
    from datetime import datetime, timedelta, timezone
    from types import SimpleNamespace

    started = datetime(2024, 5, 17, 10, 0, tzinfo=timezone.utc)

    after = created_after({"dag_run": SimpleNamespace(start_date=started)})

    assert started - timedelta(hours=1) < after < started
