"""The fault proxy itself: it forwards, throttles as AWS does, and drops answers after apply."""

from __future__ import annotations

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError

from atmo_provider.embedded.fault_proxy import WireRule
from atmo_provider.embedded.fault_rules import WireRuleBook

ONE_TRY = Config(retries={"mode": "standard", "total_max_attempts": 1})


def _client(aws, proxy, service: str):
    import boto3

    return boto3.client(
        service,
        endpoint_url=proxy.endpoint_url,
        region_name=aws.region_name,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=ONE_TRY,
    )


def test_calls_without_rules_are_forwarded_and_counted(clean_embedded_aws, fault_proxy):
    s3 = _client(clean_embedded_aws, fault_proxy, "s3")

    s3.put_object(Bucket="atmo-code", Key="proxy/forwarded.txt", Body=b"through")

    stored = clean_embedded_aws.client("s3").get_object(
        Bucket="atmo-code", Key="proxy/forwarded.txt"
    )
    assert stored["Body"].read() == b"through"
    assert fault_proxy.counts("forward") == {"s3": {"PutObject": 1}}


def test_a_throttled_emr_call_gets_emrs_throttling_error(clean_embedded_aws, fault_proxy):
    fault_proxy.set_rules([WireRule("ListClusters", "throttle")])

    with pytest.raises(ClientError) as raised:
        _client(clean_embedded_aws, fault_proxy, "emr").list_clusters()

    assert raised.value.response["Error"]["Code"] == "ThrottlingException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_a_throttled_s3_call_gets_slow_down(clean_embedded_aws, fault_proxy):
    fault_proxy.set_rules([WireRule("GetObject", "throttle", service="s3")])

    with pytest.raises(ClientError) as raised:
        _client(clean_embedded_aws, fault_proxy, "s3").get_object(Bucket="atmo-code", Key="x")

    assert raised.value.response["Error"]["Code"] == "SlowDown"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503


def test_a_dropped_answer_is_applied_upstream_and_the_client_sees_a_lost_connection(
    clean_embedded_aws, fault_proxy
):
    fault_proxy.set_rules([WireRule("PutObject", "drop_after_apply", times=1)])
    s3 = _client(clean_embedded_aws, fault_proxy, "s3")

    with pytest.raises(ConnectionClosedError):
        s3.put_object(Bucket="atmo-code", Key="proxy/dropped.txt", Body=b"applied")

    stored = clean_embedded_aws.client("s3").get_object(
        Bucket="atmo-code", Key="proxy/dropped.txt"
    )
    assert stored["Body"].read() == b"applied"
    assert fault_proxy.applied("s3", "PutObject") == 1


def test_a_share_of_calls_is_spoiled_reproducibly_for_a_seed():
    def draws(seed: int) -> list[bool]:
        book = WireRuleBook(seed)
        book.set_rules([WireRule("*", "throttle", share=0.5)])
        return [book.decide("emr", "DescribeCluster") is not None for _ in range(200)]

    first = draws(11)

    assert first == draws(11)
    assert 70 < sum(first) < 130
