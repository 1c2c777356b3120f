"""The ``aws_default`` connection set by the ``embedded_aws`` fixture reaches the embedded AWS."""

from __future__ import annotations

import uuid


def test_aws_base_hook_client_uses_the_embedded_endpoint(clean_embedded_aws):
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    client = AwsBaseHook(aws_conn_id="aws_default", client_type="emr").get_conn()

    assert client.meta.endpoint_url == clean_embedded_aws.endpoint_url
    assert client.meta.region_name == "us-west-2"


def test_emr_hook_creates_its_cluster_in_the_embedded_aws(clean_embedded_aws):
    from airflow.providers.amazon.aws.hooks.emr import EmrHook

    name = f"hook-{uuid.uuid4().hex[:8]}"
    hook = EmrHook(aws_conn_id="aws_default", emr_conn_id=None)

    response = hook.create_job_flow(
        {
            "Name": name,
            "Instances": {
                "InstanceGroups": [
                    {"InstanceRole": "MASTER", "InstanceType": "m5.xlarge", "InstanceCount": 1}
                ],
                "KeepJobFlowAliveWhenNoSteps": True,
            },
        }
    )

    cluster = clean_embedded_aws.client("emr").describe_cluster(ClusterId=response["JobFlowId"])
    assert cluster["Cluster"]["Name"] == name
    assert clean_embedded_aws.control.call_counts()["emr"]["RunJobFlow"] == 1
