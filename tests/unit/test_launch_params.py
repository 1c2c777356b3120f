"""Launch Params: Airflow refuses bad conf by JSON schema, and the Python checks agree."""

from __future__ import annotations

import dataclasses
import re

import pytest
from airflow.exceptions import ParamValidationError as CoreParamValidationError
from airflow.sdk.exceptions import ParamValidationError as SdkParamValidationError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from atmo_provider.errors import AtmoValidationError
from atmo_provider.settings import AtmoSettings
from atmo_provider.validation.launch import (
    LaunchRequest,
    launch_params,
    validate_launch_request,
)

SETTINGS = AtmoSettings(
    max_cluster_size=30,
    min_cluster_lifetime=2,
    max_cluster_lifetime=24,
    default_cluster_lifetime=8,
    emr_releases=("6.15.0", "5.36.2"),
    admin_users=("root",),
)


@pytest.fixture(scope="module")
def ssh_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()


@pytest.fixture(scope="module")
def serialized_params():
    """The params as the API server and the scheduler hold them: from the serialized DAG."""
    from airflow.sdk import DAG
    from airflow.serialization.serialized_objects import DagSerialization

    dag = DAG("launch_params_test", schedule=None, params=launch_params(SETTINGS))
    return DagSerialization.from_dict(DagSerialization.to_dict(dag)).params


def conf_errors(serialized_params, conf: dict) -> str:
    """Validate ``conf`` the way ``create_dagrun`` does when a run is triggered."""
    with pytest.raises((CoreParamValidationError, SdkParamValidationError)) as info:
        serialized_params.deep_merge(conf).validate()
    return str(info.value)


def request(ssh_key: str, **params) -> LaunchRequest:
    return validate_launch_request({"ssh_public_key": ssh_key, **params}, "ada", SETTINGS)


# The JSON schema, as Airflow checks it when a run is created.


def test_conf_with_only_a_key_is_accepted(serialized_params, ssh_key):
    values = serialized_params.deep_merge({"ssh_public_key": ssh_key}).validate()

    assert values["size"] == 1
    assert values["lifetime"] == 8
    assert values["emr_release"] == "6.15.0"
    assert values["identifier"] == ""


def test_conf_without_ssh_key_is_refused(serialized_params):
    assert "ssh_public_key" in conf_errors(serialized_params, {})


def test_conf_size_zero_is_refused(serialized_params, ssh_key):
    message = conf_errors(serialized_params, {"ssh_public_key": ssh_key, "size": 0})

    assert "size" in message
    assert "minimum of 1" in message


def test_conf_size_above_maximum_is_refused(serialized_params, ssh_key):
    message = conf_errors(serialized_params, {"ssh_public_key": ssh_key, "size": 31})

    assert "maximum of 30" in message


def test_conf_lifetime_30_is_refused(serialized_params, ssh_key):
    message = conf_errors(serialized_params, {"ssh_public_key": ssh_key, "lifetime": 30})

    assert "lifetime" in message
    assert "maximum of 24" in message


def test_conf_size_as_text_is_refused(serialized_params, ssh_key):
    message = conf_errors(serialized_params, {"ssh_public_key": ssh_key, "size": "3"})

    assert "is not of type 'integer'" in message


def test_conf_identifier_with_space_and_capitals_is_refused(serialized_params, ssh_key):
    message = conf_errors(serialized_params, {"ssh_public_key": ssh_key, "identifier": "Foo Bar"})

    assert "identifier" in message
    assert "does not match" in message


def test_conf_unknown_emr_release_is_refused(serialized_params, ssh_key):
    message = conf_errors(serialized_params, {"ssh_public_key": ssh_key, "emr_release": "4.0.0"})

    assert "'6.15.0', '5.36.2'" in message


def test_conf_malformed_owner_email_is_refused(serialized_params, ssh_key):
    message = conf_errors(serialized_params, {"ssh_public_key": ssh_key, "owner_email": "ada"})

    assert "owner_email" in message


def test_conf_overlong_ssh_key_is_refused(serialized_params):
    message = conf_errors(serialized_params, {"ssh_public_key": "x" * 100_001})

    assert "is too long" in message


def test_params_describe_themselves_for_the_trigger_form():
    params = launch_params(SETTINGS)

    assert all(param.description for param in params.values())
    assert all(param.schema.get("title") for param in params.values())
    assert params["emr_release"].schema["enum"] == ["6.15.0", "5.36.2"]


def test_identifier_default_is_the_same_at_every_parse():
    assert (
        launch_params(SETTINGS)["identifier"].value == launch_params(SETTINGS)["identifier"].value
    )


# The same rules in Python, plus what a schema cannot check.


def test_valid_request_is_returned_frozen(ssh_key):
    result = request(ssh_key, identifier="my-cluster", size=3, lifetime=4)

    assert (result.identifier, result.size, result.lifetime) == ("my-cluster", 3, 4)
    assert result.ssh_public_key == ssh_key
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.size = 5


def test_empty_identifier_becomes_a_random_scientist(ssh_key):
    identifier = request(ssh_key, identifier="").identifier

    assert re.fullmatch(r"[a-z]+-[a-z]+-[0-9]{4}", identifier)


def test_size_zero_says_what_is_allowed(ssh_key):
    with pytest.raises(AtmoValidationError) as info:
        request(ssh_key, size=0)

    assert info.value.field == "size"
    assert info.value.message == "must be between 1 and 30, got 0"


def test_lifetime_30_says_what_is_allowed(ssh_key):
    with pytest.raises(AtmoValidationError) as info:
        request(ssh_key, lifetime=30)

    assert info.value.field == "lifetime"
    assert info.value.message == "must be between 2 and 24 hours, got 30"


def test_boolean_size_is_refused(ssh_key):
    with pytest.raises(AtmoValidationError, match="whole number between 1 and 30"):
        request(ssh_key, size=True)


def test_identifier_foo_bar_says_what_is_allowed(ssh_key):
    with pytest.raises(AtmoValidationError) as info:
        request(ssh_key, identifier="Foo Bar")

    assert info.value.field == "identifier"
    assert "lowercase letters, digits or dashes" in info.value.message
    assert "'Foo Bar'" in info.value.message


def test_truncated_ssh_key_is_refused(ssh_key):
    with pytest.raises(AtmoValidationError) as info:
        request(ssh_key[:40])

    assert info.value.field == "ssh_public_key"
    assert "truncated" in info.value.message


def test_unknown_release_lists_the_allowed_ones(ssh_key):
    with pytest.raises(AtmoValidationError, match="must be one of 6.15.0, 5.36.2"):
        request(ssh_key, emr_release="4.0.0")


def test_empty_release_means_the_default(ssh_key):
    assert request(ssh_key, emr_release="").emr_release == "6.15.0"


def test_unknown_param_is_refused(ssh_key):
    with pytest.raises(AtmoValidationError) as info:
        request(ssh_key, colour="blue")

    assert info.value.field == "colour"


def test_owner_is_the_triggering_user(ssh_key):
    assert request(ssh_key).owner == "ada"


def test_naming_yourself_as_owner_is_allowed(ssh_key):
    assert request(ssh_key, owner="ada").owner == "ada"


def test_non_admin_naming_another_owner_is_refused(ssh_key):
    with pytest.raises(AtmoValidationError) as info:
        request(ssh_key, owner="grace")

    assert info.value.field == "owner"
    assert "only administrators" in info.value.message


def test_admin_may_name_another_owner(ssh_key):
    result = validate_launch_request(
        {"ssh_public_key": ssh_key, "owner": "grace"}, "root", SETTINGS
    )

    assert result.owner == "grace"


def test_without_triggering_user_owner_is_required(ssh_key):
    with pytest.raises(AtmoValidationError, match="name the owner"):
        validate_launch_request({"ssh_public_key": ssh_key}, None, SETTINGS)


def test_owner_email_defaults_to_an_email_owner(ssh_key):
    result = validate_launch_request({"ssh_public_key": ssh_key}, "ada@example.com", SETTINGS)

    assert result.owner_email == "ada@example.com"


def test_owner_email_stays_empty_for_a_plain_owner_name(ssh_key):
    assert request(ssh_key).owner_email == ""


def test_malformed_owner_email_is_refused(ssh_key):
    with pytest.raises(AtmoValidationError) as info:
        request(ssh_key, owner_email="not-an-address")

    assert info.value.field == "owner_email"


def test_request_as_dict_has_every_field(ssh_key):
    assert set(request(ssh_key).as_dict()) == {
        "identifier",
        "size",
        "lifetime",
        "ssh_public_key",
        "emr_release",
        "owner",
        "owner_email",
    }


# Against the records: a free random identifier and the per-user limits.


@pytest.fixture
def records_session(tmp_path):
    from atmo_provider.records.db import dispose_engines, engine_from_url, session_scope
    from atmo_provider.records.migrate import migrate_engine

    engine = engine_from_url(f"sqlite:///{tmp_path / 'atmo.db'}")
    migrate_engine(engine)
    with session_scope(engine) as session:
        yield session
    dispose_engines()


def record_cluster(session, identifier: str, owner: str = "someone", **fields) -> None:
    from atmo_provider.records.models import Cluster

    Cluster(identifier=identifier, created_by=owner, emr_release="6.15.0", **fields).save(session)


def test_random_identifier_taken_by_a_record_gets_a_counter(records_session, ssh_key):
    import random

    from atmo_provider.names import random_scientist
    from atmo_provider.validation.launch import resolve_launch_request

    random.seed(4711)
    taken = random_scientist()
    record_cluster(records_session, taken)
    random.seed(4711)

    resolved = resolve_launch_request(
        {"ssh_public_key": ssh_key}, "ada", SETTINGS, records_session
    )

    assert resolved.identifier == f"{taken.rsplit('-', 1)[0]}-2"


def test_identifier_the_user_gave_is_kept_even_when_taken(records_session, ssh_key):
    from atmo_provider.validation.launch import resolve_launch_request

    record_cluster(records_session, "my-cluster")

    resolved = resolve_launch_request(
        {"ssh_public_key": ssh_key, "identifier": "my-cluster"}, "ada", SETTINGS, records_session
    )

    assert resolved.identifier == "my-cluster"


def test_resolving_a_launch_applies_the_per_user_limits(records_session, ssh_key):
    from atmo_provider.validation.launch import resolve_launch_request

    record_cluster(records_session, "running", owner="ada", most_recent_status="WAITING")
    settings = dataclasses.replace(SETTINGS, max_active_clusters_per_user=1)

    with pytest.raises(AtmoValidationError, match="max_active_clusters_per_user is 1"):
        resolve_launch_request({"ssh_public_key": ssh_key}, "ada", settings, records_session)
