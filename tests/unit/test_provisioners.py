"""Tests of the provisioners' RunJobFlow parameters, EMR answers and the EMR configuration."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timezone

import pytest

from atmo_provider.aws.emr import normalize_cluster, normalize_step, to_json
from atmo_provider.errors import AtmoConfigurationError, AtmoValidationError
from atmo_provider.provisioners import (
    TASK_INSTANCE_TAG,
    ClusterProvisioner,
    SparkJobProvisioner,
    emr_configuration,
    is_spot_capacity_refusal,
    uses_spot_instances,
    with_on_demand_instances,
)
from atmo_provider.provisioners.emr_configuration import (
    fetch_spark_emr_configuration,
    parse_configurations,
)
from atmo_provider.settings import AtmoSettings

CONFIGURATIONS = [
    {"Classification": "spark", "Properties": {"maximizeResourceAllocation": "true"}}
]
NOW = datetime(2024, 5, 17, 9, 30, 5, tzinfo=timezone.utc)


def _settings(**changes) -> AtmoSettings:
    return AtmoSettings(environment="stage", **changes)


def _cluster(settings: AtmoSettings | None = None) -> ClusterProvisioner:
    return ClusterProvisioner(
        settings or _settings(), configurations=CONFIGURATIONS, clock=lambda: NOW
    )


def _job(settings: AtmoSettings | None = None) -> SparkJobProvisioner:
    return SparkJobProvisioner(
        settings or _settings(), configurations=CONFIGURATIONS, clock=lambda: NOW
    )


def _params(provisioner=None, size=1):
    provisioner = provisioner or _cluster()
    return provisioner.job_flow_params(
        "jdoe", "jdoe@example.com", "sunny-curie-1234", "6.15.0", size
    )


def _groups(params) -> dict[str, dict]:
    return {group["InstanceRole"]: group for group in params["Instances"]["InstanceGroups"]}


def _tags(params) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in params["Tags"]}


# Job flow parameters


def test_name_joins_environment_component_user_and_identifier():
    assert _params(_cluster())["Name"] == "atmo-stage-cluster-jdoe-sunny-curie-1234"
    assert _params(_job())["Name"] == "atmo-stage-job-jdoe-sunny-curie-1234"


def test_log_uri_is_under_the_log_dir_and_identifier_with_a_utc_timestamp():
    assert _params(_cluster())["LogUri"] == (
        "s3://atmo-logs/clusters/sunny-curie-1234/2024-05-17T093005Z"
    )
    assert _params(_job())["LogUri"].startswith("s3://atmo-logs/jobs/sunny-curie-1234/")


def test_release_applications_and_configurations_come_from_the_arguments_and_settings():
    params = _params(_cluster(_settings(applications=("Spark", "Hive"))))

    assert params["ReleaseLabel"] == "emr-6.15.0"
    assert params["Applications"] == [{"Name": "Spark"}, {"Name": "Hive"}]
    assert params["Configurations"] == CONFIGURATIONS


def test_size_one_is_a_single_on_demand_master_without_core_group():
    groups = _groups(_params(size=1))

    assert set(groups) == {"MASTER"}
    assert groups["MASTER"]["Market"] == "ON_DEMAND"
    assert groups["MASTER"]["InstanceCount"] == 1
    assert groups["MASTER"]["InstanceType"] == "c3.4xlarge"


def test_larger_sizes_get_a_spot_core_group_of_that_size_with_the_bid_price():
    settings = _settings(use_spot_instances=True, spot_bid_core=0.5, worker_instance_type="m5.xl")
    groups = _groups(_params(_cluster(settings), size=4))

    assert groups["MASTER"]["Market"] == "ON_DEMAND"
    assert groups["CORE"]["Market"] == "SPOT"
    assert groups["CORE"]["BidPrice"] == "0.5"
    assert groups["CORE"]["InstanceCount"] == 4
    assert groups["CORE"]["InstanceType"] == "m5.xl"


def test_without_spot_the_core_group_is_on_demand_without_bid_price():
    groups = _groups(_params(_cluster(_settings(use_spot_instances=False)), size=3))

    assert groups["CORE"]["Market"] == "ON_DEMAND"
    assert "BidPrice" not in groups["CORE"]
    assert groups["CORE"]["InstanceCount"] == 3


def test_a_size_below_one_is_refused():
    with pytest.raises(AtmoValidationError, match="size: must be at least 1, got 0"):
        _params(size=0)


def test_optional_network_and_security_settings_are_left_out_when_not_configured():
    params = _params(_cluster(_settings()))

    assert set(params["Instances"]) == {"InstanceGroups"}
    assert "SecurityConfiguration" not in params


def test_configured_network_and_security_settings_are_passed_on():
    settings = _settings(
        ec2_key_name="atmo-key",
        subnet_ids=("subnet-1", "subnet-2"),
        master_security_group="sg-master",
        slave_security_group="sg-core",
        security_configuration="atmo-security",
    )
    params = _params(_cluster(settings))

    assert params["Instances"]["Ec2KeyName"] == "atmo-key"
    assert params["Instances"]["Ec2SubnetIds"] == ["subnet-1", "subnet-2"]
    assert params["Instances"]["EmrManagedMasterSecurityGroup"] == "sg-master"
    assert params["Instances"]["EmrManagedSlaveSecurityGroup"] == "sg-core"
    assert params["SecurityConfiguration"] == "atmo-security"


def test_roles_visibility_and_auto_termination_come_from_settings():
    settings = _settings(
        instance_profile="profile-x", service_role="role-y", idle_timeout_seconds=1800
    )
    params = _params(_cluster(settings))

    assert params["JobFlowRole"] == "profile-x"
    assert params["ServiceRole"] == "role-y"
    assert params["VisibleToAllUsers"] is True
    assert params["AutoTerminationPolicy"] == {"IdleTimeout": 1800}


def test_an_idle_timeout_of_zero_leaves_auto_termination_out():
    assert "AutoTerminationPolicy" not in _params(_cluster(_settings(idle_timeout_seconds=0)))


def test_tags_name_owner_environment_application_and_type():
    cluster_tags = _tags(_params(_cluster()))
    job_tags = _tags(_params(_job()))

    assert cluster_tags["Owner"] == "jdoe@example.com"
    assert cluster_tags["Name"] == "atmo-stage-cluster-jdoe-sunny-curie-1234"
    assert cluster_tags["Environment"] == "stage"
    assert cluster_tags["Application"] == "telemetry-analysis"
    assert cluster_tags["Type"] == "cluster"
    assert job_tags["Type"] == "job"


def test_each_call_gets_its_own_copy_of_the_configurations():
    provisioner = _cluster()
    first = _params(provisioner)
    first["Configurations"][0]["Classification"] = "changed"

    assert _params(provisioner)["Configurations"] == CONFIGURATIONS


# Clusters and jobs


def test_a_cluster_stays_alive_and_bootstraps_with_the_key_and_email():
    params = _cluster().start_params(
        "jdoe", "jdoe@example.com", "c1", "6.15.0", 1, "ssh-ed25519 AAAA", "d/r/t/-1"
    )

    assert params["Instances"]["KeepJobFlowAliveWhenNoSteps"] is True
    [action] = params["BootstrapActions"]
    assert action["ScriptBootstrapAction"] == {
        "Path": "s3://atmo-spark-emr/bootstrap/telemetry.sh",
        "Args": ["--public-key", "ssh-ed25519 AAAA", "--email", "jdoe@example.com"],
    }
    assert _tags(params)[TASK_INSTANCE_TAG] == "d/r/t/-1"


def test_a_job_cluster_ends_after_its_notebook_step():
    params = _job().run_params(
        "jdoe",
        "jdoe@example.com",
        "daily-counts",
        "6.15.0",
        2,
        "s3://atmo-code/jobs/daily-counts/counts.ipynb",
        3,
        False,
    )

    assert params["Instances"]["KeepJobFlowAliveWhenNoSteps"] is False
    [action] = params["BootstrapActions"]
    assert action["ScriptBootstrapAction"]["Args"] == ["--timeout", "180"]
    [step] = params["Steps"]
    assert step["Name"] == "RunNotebookStep"
    assert step["ActionOnFailure"] == "TERMINATE_CLUSTER"
    assert step["HadoopJarStep"]["Jar"].endswith("script-runner.jar")
    assert step["HadoopJarStep"]["Args"] == [
        "s3://atmo-spark-emr/steps/batch.sh",
        "--job-name",
        "daily-counts",
        "--notebook",
        "s3://atmo-code/jobs/daily-counts/counts.ipynb",
        "--data-bucket",
        "atmo-private-data",
    ]


def test_a_public_job_writes_to_the_public_bucket_on_the_given_run_date():
    params = _job().run_params(
        "jdoe",
        "jdoe@example.com",
        "daily-counts",
        "6.15.0",
        1,
        "s3://atmo-code/jobs/daily-counts/counts.ipynb",
        24,
        True,
        run_date=date(2024, 5, 1),
    )

    args = params["Steps"][0]["HadoopJarStep"]["Args"]
    assert args[args.index("--data-bucket") + 1] == "atmo-public-data"
    assert args[-2:] == ["--run-date", "2024-05-01"]


def test_results_are_under_the_identifier_and_run_date():
    provisioner = _job()

    assert provisioner.results_uri("daily-counts", False, date(2024, 5, 1)) == (
        "s3://atmo-private-data/daily-counts/2024-05-01/"
    )
    assert provisioner.results_uri("daily-counts", True, date(2024, 5, 1)).startswith(
        "s3://atmo-public-data/"
    )


# Spot fallback


def test_on_demand_copy_turns_spot_groups_on_demand_and_leaves_the_original():
    params = _params(_cluster(_settings(use_spot_instances=True)), size=3)

    on_demand = with_on_demand_instances(params)

    assert uses_spot_instances(params)
    assert not uses_spot_instances(on_demand)
    assert "BidPrice" not in _groups(on_demand)["CORE"]
    assert _groups(params)["CORE"]["BidPrice"] == "0.84"


def test_spot_capacity_refusals_are_recognised():
    assert is_spot_capacity_refusal(
        "INTERNAL_ERROR",
        "Amazon EC2 has insufficient Spot capacity for the requested instance types in the "
        "requested Availability Zone",
    )
    assert is_spot_capacity_refusal("ValidationException", "No Spot capacity available")
    assert is_spot_capacity_refusal(
        "INSTANCE_FAILURE", "Insufficient instance capacity in us-west-2a"
    )


def test_other_failures_are_not_spot_capacity_refusals():
    assert not is_spot_capacity_refusal(
        "BOOTSTRAP_FAILURE", "On the master instance, bootstrap action 1 returned non-zero"
    )
    assert not is_spot_capacity_refusal("ValidationException", "Invalid spot bid price")
    assert not is_spot_capacity_refusal(None, None)


# EMR answers


def test_a_description_without_log_uri_or_optional_fields_normalizes_to_none():
    cluster = normalize_cluster({"Id": "j-1", "Name": "n", "Status": {"State": "STARTING"}})

    assert cluster["jobflow_id"] == "j-1"
    assert cluster["state"] == "STARTING"
    assert cluster["log_uri"] is None
    assert cluster["public_dns"] is None
    assert cluster["state_change_reason_code"] is None
    assert cluster["ready_datetime"] is None
    assert cluster["tags"] == {}


def test_a_description_gives_reason_times_in_utc_tags_and_an_s3_log_uri():
    created = datetime(2024, 5, 17, 11, 0, tzinfo=timezone.utc)
    cluster = normalize_cluster(
        {
            "Id": "j-2",
            "Name": "n",
            "LogUri": "s3n://atmo-logs/clusters/c/ts/",
            "MasterPublicDnsName": "ec2-1.example",
            "Tags": [{"Key": "Owner", "Value": "jdoe@example.com"}],
            "Status": {
                "State": "TERMINATED_WITH_ERRORS",
                "StateChangeReason": {"Code": "BOOTSTRAP_FAILURE", "Message": "bootstrap 1"},
                "Timeline": {"CreationDateTime": created, "EndDateTime": created},
            },
        }
    )

    assert cluster["log_uri"] == "s3://atmo-logs/clusters/c/ts/"
    assert cluster["public_dns"] == "ec2-1.example"
    assert cluster["state_change_reason_code"] == "BOOTSTRAP_FAILURE"
    assert cluster["state_change_reason_message"] == "bootstrap 1"
    assert cluster["creation_datetime"] == created
    assert cluster["tags"] == {"Owner": "jdoe@example.com"}
    assert to_json(cluster)["end_datetime"] == "2024-05-17T11:00:00+00:00"


def test_a_step_gives_its_failure_details():
    step = normalize_step(
        {
            "Id": "s-1",
            "Name": "RunNotebookStep",
            "Status": {
                "State": "FAILED",
                "FailureDetails": {
                    "Reason": "Unknown Error",
                    "Message": "exit 1",
                    "LogFile": "s3n://logs/j-1/steps/s-1/stderr.gz",
                },
            },
        }
    )

    assert (step["state"], step["failure_reason"], step["failure_message"]) == (
        "FAILED",
        "Unknown Error",
        "exit 1",
    )
    assert step["failure_log_file"] == "s3://logs/j-1/steps/s-1/stderr.gz"


# EMR configuration


def test_a_json_list_of_classifications_is_a_valid_configuration():
    assert parse_configurations(json.dumps(CONFIGURATIONS), "s3://b/k") == CONFIGURATIONS


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("{not json", "Expecting property name"),
        ('{"Classification": "spark"}', "it holds a JSON dict"),
        ('[{"Properties": {}}]', "item 0 is"),
        ('["spark"]', "item 0 is"),
    ],
)
def test_a_malformed_configuration_names_the_object_and_the_problem(body, problem):
    with pytest.raises(AtmoConfigurationError) as raised:
        parse_configurations(body, "s3://atmo-spark-emr/configuration/configuration.json")

    message = str(raised.value)
    assert message.startswith("s3://atmo-spark-emr/configuration/configuration.json is not a ")
    assert "JSON list of EMR configurations" in message
    assert re.search(re.escape(problem), message)


@pytest.fixture
def counted_reads(monkeypatch):
    reads: list[tuple] = []

    def read(aws_conn_id, region_name, bucket, key):
        reads.append((aws_conn_id, bucket, key))
        return json.dumps(CONFIGURATIONS).encode()

    emr_configuration.clear_cache()
    monkeypatch.setattr(emr_configuration, "_read", read)
    yield reads
    emr_configuration.clear_cache()


def test_the_configuration_is_read_once_per_connection_bucket_and_key(counted_reads):
    for _ in range(3):
        fetch_spark_emr_configuration("aws_default", None, "bucket", "key.json")
    fetch_spark_emr_configuration("aws_other", None, "bucket", "key.json")
    fetch_spark_emr_configuration("aws_default", None, "bucket", "other.json")

    assert counted_reads == [
        ("aws_default", "bucket", "key.json"),
        ("aws_other", "bucket", "key.json"),
        ("aws_default", "bucket", "other.json"),
    ]


def test_cached_configurations_are_copies_callers_may_change(counted_reads):
    first = fetch_spark_emr_configuration("aws_default", None, "bucket", "key.json")
    first.append({"Classification": "added"})

    assert fetch_spark_emr_configuration("aws_default", None, "bucket", "key.json") == (
        CONFIGURATIONS
    )


def test_clearing_the_cache_reads_the_configuration_again(counted_reads):
    fetch_spark_emr_configuration("aws_default", None, "bucket", "key.json")
    emr_configuration.clear_cache()
    fetch_spark_emr_configuration("aws_default", None, "bucket", "key.json")

    assert len(counted_reads) == 2


@pytest.mark.integration
def test_a_missing_configuration_object_is_named_in_the_error(embedded_aws):
    emr_configuration.clear_cache()

    with pytest.raises(AtmoConfigurationError) as raised:
        fetch_spark_emr_configuration(
            "aws_default", embedded_aws.region_name, "atmo-spark-emr", "configuration/absent.json"
        )

    assert "s3://atmo-spark-emr/configuration/absent.json is missing" in str(raised.value)


@pytest.mark.integration
def test_the_seeded_configuration_is_read_from_s3(embedded_aws):
    emr_configuration.clear_cache()
    settings = embedded_aws.settings

    configurations = fetch_spark_emr_configuration(
        "aws_default",
        embedded_aws.region_name,
        settings.spark_emr_bucket,
        settings.spark_emr_configuration_key,
    )

    assert configurations
    assert all("Classification" in item for item in configurations)
    emr_configuration.clear_cache()
