"""Fixtures of the fault tests: a fault-injection proxy in front of the embedded AWS."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from atmo_provider.embedded.fault_proxy import FaultProxy
from tests.fixtures.embedded import EmbeddedAwsHandle, aws_connection_json
from tests.integration.test_records_dags import launch_dag, records, ssh_key  # noqa: F401
from tests.local.conftest import results_store  # noqa: F401


def reset_embedded_aws(aws: EmbeddedAwsHandle) -> None:
    """Put back the seed if a test took it away; drop fault rules and counts; fast timings."""
    from atmo_provider.embedded.seed import seed_embedded_aws

    present = {bucket["Name"] for bucket in aws.client("s3").list_buckets().get("Buckets", [])}
    if aws.settings.spark_emr_bucket not in present:
        seed_embedded_aws(aws.endpoint_url, aws.settings)
    aws.control.reset()
    aws.control.set_timings("fast")


def start_proxy(aws: EmbeddedAwsHandle, patch: pytest.MonkeyPatch) -> FaultProxy:
    """Start a proxy in front of ``aws`` and point ``aws_default`` at it through ``patch``."""
    proxy = FaultProxy(aws.endpoint_url, seed=1234).start()
    patch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT", aws_connection_json(proxy.endpoint_url, aws.region_name)
    )
    return proxy


@pytest.fixture
def fault_proxy(
    clean_embedded_aws: EmbeddedAwsHandle, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FaultProxy]:
    """A proxy in front of the embedded AWS; ``aws_default`` points at it during the test."""
    proxy = start_proxy(clean_embedded_aws, monkeypatch)
    try:
        yield proxy
    finally:
        proxy.stop()


@dataclass
class SleepLog:
    """The waits of the provider's full-jitter retries and of botocore's own retries."""

    #: ``(retry number n, delay drawn, ceiling expo(n))`` of every full-jitter draw.
    draws: list[tuple[int, float, float]] = field(default_factory=list)
    #: The waits the provider asked for (AWS call retries and launch attempts).
    slept: list[float] = field(default_factory=list)
    #: The waits botocore asked for between its own attempts.
    botocore_slept: list[float] = field(default_factory=list)


def install_short_sleeps(patch: pytest.MonkeyPatch) -> SleepLog:
    """Record every backoff draw and retry wait; wait 10 ms at most instead.

    Only the ``time`` name of the modules that wait for a retry is replaced, so that the rest
    of the test process keeps its real clock.
    """
    import botocore.endpoint

    from atmo_provider.aws import retry
    from atmo_provider.backoff import ExpoBackoffFullJitter
    from atmo_provider.local import results
    from atmo_provider.provisioners import base

    record = SleepLog()
    original = ExpoBackoffFullJitter.backoff

    def drawing(self: ExpoBackoffFullJitter, n: int) -> float:
        delay = original(self, n)
        record.draws.append((n, delay, self.expo(n)))
        return delay

    def provider_sleep(seconds: float) -> None:
        record.slept.append(seconds)
        time.sleep(min(seconds, 0.01))

    def botocore_sleep(seconds: float) -> None:
        record.botocore_slept.append(seconds)
        time.sleep(min(seconds, 0.01))

    patch.setattr(ExpoBackoffFullJitter, "backoff", drawing)
    fast = SimpleNamespace(sleep=provider_sleep, monotonic=time.monotonic, time=time.time)
    patch.setattr(retry, "time", fast)
    patch.setattr(base, "time", fast)
    patch.setattr(results, "time", fast)
    patch.setattr(botocore.endpoint, "time", SimpleNamespace(sleep=botocore_sleep, time=time.time))
    return record


@pytest.fixture
def short_sleeps(monkeypatch: pytest.MonkeyPatch) -> SleepLog:
    """Record the provider's and botocore's retry waits; wait 10 ms at most."""
    return install_short_sleeps(monkeypatch)
