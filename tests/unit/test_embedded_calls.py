"""Naming and counting the AWS calls that reach the embedded AWS."""

from __future__ import annotations

import pytest

from atmo_provider.embedded.calls import AwsCall, CallCounter, classify

EMR_AUTH = (
    "AWS4-HMAC-SHA256 Credential=testing/20250101/us-west-2/elasticmapreduce/aws4_request, "
    "SignedHeaders=host;x-amz-date;x-amz-target, Signature=abc"
)
S3_AUTH = (
    "AWS4-HMAC-SHA256 Credential=testing/20250101/us-west-2/s3/aws4_request, "
    "SignedHeaders=host, Signature=abc"
)


def test_emr_call_is_named_by_its_target_header():
    headers = {"authorization": EMR_AUTH, "x-amz-target": "ElasticMapReduce.DescribeCluster"}

    call = classify("POST", "/", "", headers)

    assert call == AwsCall("emr", "DescribeCluster", "us-west-2", "testing")


def test_unsigned_emr_call_is_named_by_its_target_prefix():
    call = classify("POST", "/", "", {"x-amz-target": "ElasticMapReduce.ListClusters"})

    assert (call.service, call.action) == ("emr", "ListClusters")


@pytest.mark.parametrize(
    ("method", "path", "query", "action"),
    [
        ("GET", "/", "", "ListBuckets"),
        ("PUT", "/atmo-logs", "", "CreateBucket"),
        ("HEAD", "/atmo-logs", "", "HeadBucket"),
        ("GET", "/atmo-logs", "list-type=2&prefix=jobs%2F", "ListObjectsV2"),
        ("GET", "/atmo-logs", "prefix=jobs%2F", "ListObjects"),
        ("GET", "/atmo-logs", "location", "GetBucketLocation"),
        ("PUT", "/atmo-logs", "policy", "PutBucketPolicy"),
        ("POST", "/atmo-logs", "delete", "DeleteObjects"),
        ("PUT", "/atmo-code/jobs/x/nb.ipynb", "", "PutObject"),
        ("GET", "/atmo-code/jobs/x/nb.ipynb", "", "GetObject"),
        ("HEAD", "/atmo-code/jobs/x/nb.ipynb", "", "HeadObject"),
        ("DELETE", "/atmo-code/jobs/x/nb.ipynb", "", "DeleteObject"),
        ("GET", "/atmo-code/jobs/x/nb.ipynb", "tagging", "GetObjectTagging"),
        ("POST", "/atmo-code/big.bin", "uploads", "CreateMultipartUpload"),
        ("PUT", "/atmo-code/big.bin", "partNumber=1&uploadId=u", "UploadPart"),
        ("POST", "/atmo-code/big.bin", "uploadId=u", "CompleteMultipartUpload"),
    ],
)
def test_s3_call_is_named_by_method_and_path_shape(method, path, query, action):
    call = classify(method, path, query, {"authorization": S3_AUTH})

    assert (call.service, call.action) == ("s3", action)


def test_s3_put_with_copy_source_is_a_copy():
    headers = {"authorization": S3_AUTH, "x-amz-copy-source": "/atmo-code/a"}

    assert classify("PUT", "/atmo-code/b", "", headers).action == "CopyObject"


def test_presigned_s3_url_is_named_from_its_query_credential():
    query = "X-Amz-Credential=testing%2F20250101%2Fus-west-2%2Fs3%2Faws4_request&X-Amz-Expires=60"

    call = classify("GET", "/atmo-public-data/job/x.ipynb", query, {})

    assert (call.service, call.action, call.region) == ("s3", "GetObject", "us-west-2")


def test_query_protocol_call_is_named_by_its_action_parameter():
    auth = EMR_AUTH.replace("elasticmapreduce", "sts")

    call = classify("POST", "/", "", {"authorization": auth}, "Action=GetCallerIdentity&V=1")

    assert (call.service, call.action) == ("sts", "GetCallerIdentity")


def test_counter_counts_by_service_and_action_and_resets():
    counter = CallCounter()
    for action in ("DescribeCluster", "DescribeCluster", "ListSteps"):
        counter.record(AwsCall("emr", action))
    counter.record(AwsCall("s3", "PutObject"))

    assert counter.snapshot() == {
        "emr": {"DescribeCluster": 2, "ListSteps": 1},
        "s3": {"PutObject": 1},
    }
    counter.reset()
    assert counter.snapshot() == {}
