"""The Spark EMR configuration: the ``Configurations`` every cluster is launched with.

We store it in S3 so that other Telemetry services can share it. It is read once per process
for each connection, bucket and key; a worker process runs one task, so a changed document is
picked up by the next task.
"""

from __future__ import annotations

import copy
import json
import threading
from typing import Any

from atmo_provider.aws.clients import s3_client
from atmo_provider.aws.retry import call_with_backoff, error_code
from atmo_provider.errors import AtmoConfigurationError

__all__ = ["clear_cache", "fetch_spark_emr_configuration", "parse_configurations"]

_MISSING_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "404", "NotFound"})

# A cache of an S3 document per process, keyed by (connection id, bucket, key): not task state.
_cache: dict[tuple[str | None, str, str], list[dict[str, Any]]] = {}
_cache_lock = threading.Lock()


def parse_configurations(body: bytes | str, uri: str) -> list[dict[str, Any]]:
    """Parse and check the JSON document at ``uri``: a list of EMR configurations.

    :param body: the document's content.
    :param uri: where it came from, for the error message.
    :raises AtmoConfigurationError: when it is not a JSON list of objects with a
        ``Classification``.
    """
    expected = "a JSON list of EMR configurations (objects with a 'Classification' string)"
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise AtmoConfigurationError(f"{uri} is not {expected}: {exc}") from exc

    if not isinstance(document, list):
        kind = type(document).__name__
        raise AtmoConfigurationError(f"{uri} is not {expected}: it holds a JSON {kind}")

    for position, item in enumerate(document):
        if not isinstance(item, dict) or not isinstance(item.get("Classification"), str):
            raise AtmoConfigurationError(
                f"{uri} is not {expected}: item {position} is {json.dumps(item)[:80]}"
            )
    return document


def _read(aws_conn_id: str | None, region_name: str | None, bucket: str, key: str) -> bytes:
    uri = f"s3://{bucket}/{key}"
    client = s3_client(aws_conn_id, region_name)
    try:
        response = call_with_backoff(
            client.get_object, Bucket=bucket, Key=key, description=f"read {uri}"
        )
    except Exception as exc:
        if error_code(exc) in _MISSING_CODES:
            raise AtmoConfigurationError(
                f"The Spark EMR configuration {uri} is missing ({error_code(exc)}); upload it "
                "or set [atmo] spark_emr_bucket and spark_emr_configuration_key to its place"
            ) from exc
        raise
    return response["Body"].read()


def fetch_spark_emr_configuration(
    aws_conn_id: str | None, region_name: str | None, bucket: str, key: str
) -> list[dict[str, Any]]:
    """Return the EMR ``Configurations`` stored at ``s3://bucket/key``, cached per process.

    Each caller gets its own copy, free to change.

    :param aws_conn_id: the Airflow AWS connection to read it with.
    :param region_name: the region of the bucket; ``None`` for the connection's region.
    :param bucket: the Spark EMR bucket.
    :param key: the key of the configuration document.
    :raises AtmoConfigurationError: when the object is missing or is not a JSON list of EMR
        configurations.
    """
    cache_key = (aws_conn_id, bucket, key)
    with _cache_lock:
        cached = _cache.get(cache_key)
    if cached is None:
        cached = parse_configurations(
            _read(aws_conn_id, region_name, bucket, key), f"s3://{bucket}/{key}"
        )
        with _cache_lock:
            _cache[cache_key] = cached
    return copy.deepcopy(cached)


def clear_cache() -> None:
    """Forget every cached configuration, so the next call reads S3 again."""
    with _cache_lock:
        _cache.clear()
