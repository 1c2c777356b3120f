"""Fill an embedded AWS with what ATMO expects to find in S3 before the first launch.

Part of the embedded AWS, a development and test facility; in production these buckets and
objects are set up once by operators, and the provider reads them with the same code. Creates
the buckets named by the settings and uploads to the Spark EMR bucket:

- the EMR ``Configurations`` document at ``settings.spark_emr_configuration_key``;
- ``bootstrap/telemetry.sh``, the bootstrap action (installs the owner's SSH key, honours a
  job timeout);
- ``steps/batch.sh``, the step of Spark jobs (runs a notebook, uploads the executed copy).

The files live beside this module in ``files/``.
"""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any

from atmo_provider.settings import AtmoSettings

__all__ = ["BOOTSTRAP_KEY", "STEP_KEY", "bucket_names", "read_file", "seed_embedded_aws"]

log = logging.getLogger(__name__)

#: Key of the bootstrap script in the Spark EMR bucket.
BOOTSTRAP_KEY = "bootstrap/telemetry.sh"
#: Key of the Spark job step script in the Spark EMR bucket.
STEP_KEY = "steps/batch.sh"


def read_file(name: str) -> bytes:
    """Return the content of a file shipped in ``atmo_provider/embedded/files/``."""
    return resources.files("atmo_provider.embedded").joinpath("files").joinpath(name).read_bytes()


def bucket_names(settings: AtmoSettings) -> list[str]:
    """Return the distinct buckets the settings name, in a stable order."""
    names = [
        settings.log_bucket,
        settings.code_bucket,
        settings.public_data_bucket,
        settings.private_data_bucket,
        settings.spark_emr_bucket,
    ]
    return list(dict.fromkeys(name for name in names if name))


def seed_embedded_aws(endpoint_url: str, settings: AtmoSettings) -> dict[str, Any]:
    """Create the buckets of ``settings`` and upload the EMR configuration and scripts.

    Safe to run again: existing buckets are kept and the objects overwritten.

    :param endpoint_url: the embedded AWS endpoint.
    :param settings: the provider settings naming buckets, region and configuration key.
    :return: ``{"buckets": [...], "objects": [s3 URIs uploaded]}``.
    """
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=settings.region_name,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    buckets = bucket_names(settings)
    existing = {bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])}
    for bucket in buckets:
        if bucket in existing:
            continue
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if settings.region_name != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": settings.region_name}
        s3.create_bucket(**kwargs)
        log.info("Created bucket %s", bucket)

    uploads = [
        (settings.spark_emr_configuration_key, "configuration.json", "application/json"),
        (BOOTSTRAP_KEY, "telemetry.sh", "text/x-shellscript"),
        (STEP_KEY, "batch.sh", "text/x-shellscript"),
    ]
    objects = []
    for key, name, content_type in uploads:
        s3.put_object(
            Bucket=settings.spark_emr_bucket,
            Key=key,
            Body=read_file(name),
            ContentType=content_type,
        )
        objects.append(f"s3://{settings.spark_emr_bucket}/{key}")
        log.info("Uploaded %s to s3://%s/%s", name, settings.spark_emr_bucket, key)
    return {"buckets": buckets, "objects": objects}
