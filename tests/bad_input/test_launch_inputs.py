"""Bad launch params: refused by the Params schema and by the Python checks, naming the field,
with no AWS call and no record; and through the DAG, refused before any ``RunJobFlow``."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from atmo_provider.errors import AtmoValidationError
from atmo_provider.records.db import session_scope
from atmo_provider.settings import AtmoSettings
from atmo_provider.validation.launch import (
    launch_params,
    resolve_launch_request,
    validate_launch_request,
)
from atmo_provider.validation.ssh_keys import MAX_KEY_LENGTH
from tests.bad_input.conftest import load_cases
from tests.conftest import ROOT

CASES = load_cases("launch")
#: The Params schema is another entry point: the Python checks' known bugs do not concern it.
SCHEMA_CASES = [
    case for case in load_cases("launch", expect_bugs=False) if case.values[0]["schema"]
]


@pytest.fixture(scope="module")
def ssh_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()


def bad_params(case: dict[str, Any], ssh_key: str) -> dict[str, Any]:
    """Return valid launch params with the case's field set to its bad value."""
    value = case["value"]
    if value == "@LONG@":
        value = "ssh-ed25519 " + "A" * (MAX_KEY_LENGTH + 1 - len("ssh-ed25519 "))
    elif isinstance(value, str):
        value = value.replace("@KEY@", ssh_key)
    return {"ssh_public_key": ssh_key, case["field"]: value}


def test_the_valid_base_params_are_accepted(ssh_key):
    request = validate_launch_request({"ssh_public_key": ssh_key}, "ada", AtmoSettings())

    assert request.owner == "ada"


@pytest.mark.parametrize("case", SCHEMA_CASES)
def test_params_schema_refuses_the_value_naming_the_field(case, ssh_key):
    from airflow.exceptions import ParamValidationError
    from airflow.sdk.definitions.param import ParamsDict

    params = ParamsDict(launch_params(AtmoSettings()))
    with pytest.raises(ParamValidationError) as refused:
        params.update(bad_params(case, ssh_key))
        params.validate()

    assert case["field"] in str(refused.value)


@pytest.mark.parametrize("case", CASES)
def test_python_check_refuses_the_value_naming_the_field(case, ssh_key):
    with pytest.raises(AtmoValidationError) as refused:
        validate_launch_request(bad_params(case, ssh_key), "ada", AtmoSettings())

    assert refused.value.field == case["field"]
    assert case["field"] in str(refused.value)


@pytest.mark.parametrize("case", CASES)
def test_resolving_against_the_records_refuses_and_nothing_follows(
    case, ssh_key, records, nothing_follows
):
    with pytest.raises(AtmoValidationError) as refused:
        with session_scope(records) as session:
            resolve_launch_request(bad_params(case, ssh_key), "ada", AtmoSettings(), session)

    assert refused.value.field == case["field"]
    nothing_follows()


@pytest.fixture(scope="module")
def launch_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags" / "atmo_launch_cluster.py"))
    assert bag.import_errors == {}
    return bag.dags["atmo_launch_cluster"]


@pytest.fixture
def dag_records(tmp_path, monkeypatch):
    """A migrated records database behind ``atmo_default``, the one the DAG's tasks use."""
    from atmo_provider.records.db import dispose_engines, engine_from_url
    from atmo_provider.records.migrate import migrate
    from tests.bad_input.conftest import row_counts

    url = f"sqlite:///{tmp_path / 'dag-atmo.db'}"
    monkeypatch.setenv("AIRFLOW_CONN_ATMO_DEFAULT", url)
    migrate("atmo_default")
    engine = engine_from_url(url)
    yield lambda: row_counts(engine)
    dispose_engines()


DAG_CASES = [
    pytest.param({"ssh_public_key": "@PRIVATE@"}, id="private-key-pasted"),
    pytest.param({"owner": "somebody-else"}, id="other-owner-by-a-non-admin"),
    pytest.param({"ssh_public_key": "@KEY@\n@KEY@"}, id="two-keys"),
]


@pytest.mark.integration
@pytest.mark.parametrize("conf", DAG_CASES)
def test_validate_request_task_fails_and_no_cluster_is_launched(
    conf, airflow_db, clean_embedded_aws, launch_dag, ssh_key, dag_records
):
    private = (
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE\n"
        "-----END OPENSSH PRIVATE KEY-----"
    )
    run_conf = {"ssh_public_key": ssh_key}
    run_conf.update(
        {
            name: value.replace("@KEY@", ssh_key).replace("@PRIVATE@", private)
            for name, value in conf.items()
        }
    )
    before = dag_records()

    run = launch_dag.test(run_conf=run_conf)

    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "failed"
    assert states["validate_request"] == "failed"
    assert states["create_cluster"] == "upstream_failed"
    assert clean_embedded_aws.control.call_counts().get("emr", {}).get("RunJobFlow", 0) == 0
    assert dag_records() == before
