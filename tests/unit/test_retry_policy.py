"""The task retry policy: full-jitter delays for transient failures, no retry for bad input."""

from __future__ import annotations

from datetime import timedelta

import pytest
from airflow.sdk import RetryDecision
from airflow.sdk.definitions.retry_policy import RetryAction

from atmo_provider.errors import AtmoConfigurationError, AtmoValidationError
from atmo_provider.retry_policy import FullJitterRetryPolicy


class FakeClientError(Exception):
    """Carries a botocore-shaped ``response`` without importing botocore."""

    def __init__(self, code: str, status: int = 400) -> None:
        super().__init__(code)
        self.response = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}


class ParamValidationError(Exception):
    """Named like botocore's error for malformed request parameters."""


def evaluate(exc: BaseException, try_number: int = 1) -> RetryDecision:
    return FullJitterRetryPolicy(base=30, cap=600).evaluate(exc, try_number, max_tries=4)


def test_validation_error_fails_at_once():
    decision = evaluate(AtmoValidationError("size", "must be between 1 and 30, got 0"))

    assert decision.action is RetryAction.FAIL


def test_configuration_error_fails_at_once():
    assert evaluate(AtmoConfigurationError("no configuration")).action is RetryAction.FAIL


def test_parameter_error_by_name_fails_at_once():
    assert evaluate(ParamValidationError("bad")).action is RetryAction.FAIL


@pytest.mark.parametrize("code", ["AccessDeniedException", "ValidationException", "NoSuchBucket"])
def test_final_aws_error_codes_fail_at_once(code):
    assert evaluate(FakeClientError(code)).action is RetryAction.FAIL


def test_throttling_is_retried():
    decision = evaluate(FakeClientError("ThrottlingException"))

    assert decision.action is RetryAction.RETRY
    assert "transient" in decision.reason


def test_unknown_failure_is_retried():
    assert evaluate(RuntimeError("boom")).action is RetryAction.RETRY


def test_first_retry_delay_is_within_base():
    delays = [evaluate(RuntimeError("x"), try_number=1).retry_delay for _ in range(200)]

    assert all(timedelta(0) <= delay <= timedelta(seconds=30) for delay in delays)


def test_retry_delay_never_exceeds_cap():
    delays = [evaluate(RuntimeError("x"), try_number=50).retry_delay for _ in range(200)]

    assert all(delay <= timedelta(seconds=600) for delay in delays)
    assert max(delays) > timedelta(seconds=60)


def test_serialize_round_trip_keeps_base_and_cap():
    policy = FullJitterRetryPolicy(base=5, cap=50)

    again = FullJitterRetryPolicy.deserialize(policy.serialize())

    assert (again.base, again.cap) == (5, 50)
