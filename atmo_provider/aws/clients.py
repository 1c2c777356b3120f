"""boto3 clients built through the Amazon provider's hooks, with botocore's retries kept low.

The hooks resolve the Airflow connection (credentials, region, ``endpoint_url``); we only merge
a retry setting into the connection's botocore configuration so that
:func:`~atmo_provider.aws.retry.call_with_backoff` decides when to try again.
"""

from __future__ import annotations

from typing import Any

__all__ = ["NO_RETRIES", "emr_client", "s3_client"]

#: botocore attempts for calls that must not be repeated behind our back (RunJobFlow).
NO_RETRIES = 1

#: botocore attempts for other calls: one quick retry, then our full-jitter backoff takes over.
FEW_RETRIES = 2


def _retry_config(hook: Any, total_max_attempts: int) -> Any:
    from botocore.config import Config

    retries = Config(retries={"mode": "standard", "total_max_attempts": total_max_attempts})
    return hook.config.merge(retries)


def emr_client(
    aws_conn_id: str | None, region_name: str | None, *, total_max_attempts: int = FEW_RETRIES
) -> Any:
    """Return an EMR client of the connection ``aws_conn_id`` making at most N tries a call.

    :param aws_conn_id: the Airflow AWS connection.
    :param region_name: the region of the clusters; ``None`` for the connection's region.
    :param total_max_attempts: botocore's attempts per call, the first included.
    """
    from airflow.providers.amazon.aws.hooks.emr import EmrHook

    hook = EmrHook(aws_conn_id=aws_conn_id, emr_conn_id=None, region_name=region_name)
    config = _retry_config(hook, total_max_attempts)
    return hook.get_client_type(region_name=hook.region_name, config=config)


def s3_client(
    aws_conn_id: str | None, region_name: str | None, *, total_max_attempts: int = FEW_RETRIES
) -> Any:
    """Return an S3 client of the connection ``aws_conn_id`` making at most N tries a call.

    :param aws_conn_id: the Airflow AWS connection.
    :param region_name: the region of the buckets; ``None`` for the connection's region.
    :param total_max_attempts: botocore's attempts per call, the first included.
    """
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    hook = S3Hook(aws_conn_id=aws_conn_id, region_name=region_name)
    config = _retry_config(hook, total_max_attempts)
    return hook.get_client_type(region_name=hook.region_name, config=config)
