"""Tests of call_with_backoff: full-jitter retries of transient AWS errors only."""

from __future__ import annotations

import logging

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from atmo_provider.aws.retry import call_with_backoff, error_code


def _client_error(code: str, status: int = 400) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"{code} happened"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "DescribeCluster",
    )


class FlakyCall:
    """A call that raises the given errors in turn, then returns ``"done"``."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        self.args, self.kwargs = args, kwargs
        if self.errors:
            raise self.errors.pop(0)
        return "done"


@pytest.fixture
def sleeps(monkeypatch):
    delays: list[float] = []
    monkeypatch.setattr("atmo_provider.aws.retry.time.sleep", delays.append)
    return delays


def test_retries_throttling_until_the_call_succeeds(sleeps):
    call = FlakyCall(_client_error("ThrottlingException"), _client_error("Throttling"))

    result = call_with_backoff(call, "j-1", description="describe cluster j-1", ClusterId="j-1")

    assert result == "done"
    assert call.calls == 3
    assert call.args == ("j-1",) and call.kwargs == {"ClusterId": "j-1"}
    assert len(sleeps) == 2


def test_retries_server_errors_and_lost_connections(sleeps):
    call = FlakyCall(
        _client_error("InternalFailure", 500),
        EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
    )

    assert call_with_backoff(call, description="list clusters") == "done"
    assert call.calls == 3


def test_gives_up_after_max_attempts_with_the_last_error(sleeps):
    errors = [_client_error("ThrottlingException") for _ in range(4)]
    call = FlakyCall(*errors)

    with pytest.raises(ClientError) as raised:
        call_with_backoff(call, description="describe cluster j-1", max_attempts=4)

    assert raised.value is errors[-1]
    assert call.calls == 4
    assert len(sleeps) == 3


def test_does_not_retry_access_denied(sleeps):
    call = FlakyCall(_client_error("AccessDeniedException", 403))

    with pytest.raises(ClientError):
        call_with_backoff(call, description="terminate cluster j-1")

    assert call.calls == 1
    assert sleeps == []


def test_does_not_retry_a_validation_error(sleeps):
    call = FlakyCall(_client_error("ValidationException"))

    with pytest.raises(ClientError):
        call_with_backoff(call, description="run job flow")

    assert call.calls == 1


def test_waits_are_jittered_within_the_exponential_ceiling(sleeps):
    attempts = 7
    call = FlakyCall(*[_client_error("ThrottlingException") for _ in range(attempts - 1)])

    call_with_backoff(
        call, description="describe cluster j-1", max_attempts=attempts, base=1.0, cap=8.0
    )

    ceilings = [min(8.0, 1.0 * 2**n) for n in range(attempts - 1)]
    assert all(0 <= delay <= ceiling for delay, ceiling in zip(sleeps, ceilings, strict=True))


def test_waits_are_not_a_fixed_time(sleeps):
    for _ in range(20):
        call = FlakyCall(_client_error("ThrottlingException"))
        call_with_backoff(call, description="describe cluster j-1", base=4.0, cap=4.0)

    assert len(sleeps) == 20
    assert len(set(sleeps)) > 10


def test_logs_each_retry_with_the_description(sleeps, caplog):
    call = FlakyCall(_client_error("ThrottlingException"))

    with caplog.at_level(logging.WARNING, logger="atmo_provider.aws.retry"):
        call_with_backoff(call, description="describe cluster j-42")

    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert message.startswith("Throttled on describe cluster j-42, retry 1 in ")
    assert "ThrottlingException" in message


def test_refuses_fewer_than_one_attempt():
    with pytest.raises(ValueError, match="max_attempts"):
        call_with_backoff(FlakyCall(), description="nothing", max_attempts=0)


def test_error_code_reads_the_aws_code_or_names_the_class():
    assert error_code(_client_error("SlowDown", 503)) == "SlowDown"
    assert error_code(TimeoutError("late")) == "TimeoutError"
