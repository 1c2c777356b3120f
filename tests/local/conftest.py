"""Fixtures of the local execution backend's tests: the embedded AWS's results buckets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from atmo_provider.settings import AtmoSettings

DATA = Path(__file__).resolve().parent / "data"
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ResultsStore:
    """Where the tests' runs store results, and a boto3 S3 client to read them back."""

    #: The Airflow connection the runs upload through.
    aws_conn_id: str
    #: The settings naming the public and private results buckets.
    settings: AtmoSettings
    #: A boto3 S3 client of the embedded AWS.
    s3: Any

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Return the keys under ``prefix`` in ``bucket``, sorted."""
        response = self.s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for item in response.get("Contents", []))

    def read(self, bucket: str, key: str) -> bytes:
        """Return the content of one object."""
        return self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    def content_type(self, bucket: str, key: str) -> str:
        """Return the stored Content-Type of one object."""
        return self.s3.head_object(Bucket=bucket, Key=key)["ContentType"]


@pytest.fixture(scope="module")
def results_store(embedded_aws) -> ResultsStore:
    """The embedded AWS's S3 with the results buckets, reached through ``aws_default``.

    The seed is put back when a test of the session took the buckets away.
    """
    from atmo_provider.embedded.seed import seed_embedded_aws

    settings = embedded_aws.settings
    s3 = embedded_aws.client("s3")
    present = {bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])}
    if not {settings.public_data_bucket, settings.private_data_bucket} <= present:
        seed_embedded_aws(embedded_aws.endpoint_url, settings)
    return ResultsStore("aws_default", settings, s3)
