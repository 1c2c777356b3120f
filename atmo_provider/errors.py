"""Errors of the provider and the rule that tells a transient AWS failure from a final one."""

from __future__ import annotations

__all__ = [
    "AtmoConfigurationError",
    "AtmoValidationError",
    "EmrFailure",
    "is_transient",
]

#: AWS error codes that mean "slow down and try again".
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "SlowDown",
        "PriorRequestNotComplete",
    }
)

#: AWS error codes of passing server-side faults.
SERVER_FAULT_CODES = frozenset(
    {"InternalError", "InternalFailure", "ServiceUnavailable", "RequestTimeout"}
)


class AtmoValidationError(ValueError):
    """Input a user gave is not acceptable; retrying cannot help.

    :param field: the name of the offending field, as the user knows it.
    :param message: what is wrong and what is allowed.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class AtmoConfigurationError(RuntimeError):
    """The provider's configuration or a document it depends on is missing or malformed."""


class EmrFailure(RuntimeError):
    """EMR reported that a cluster or a step failed.

    :param message: a sentence for the task log naming the cluster and what failed.
    :param reason_code: EMR's state change reason code, if any.
    :param reason_message: EMR's state change reason message, if any.
    """

    def __init__(
        self, message: str, reason_code: str | None = None, reason_message: str | None = None
    ) -> None:
        super().__init__(message)
        self.reason_code = reason_code
        self.reason_message = reason_message


def _client_error_code(exc: BaseException) -> tuple[str | None, int | None]:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None, None
    code = (response.get("Error") or {}).get("Code")
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return code, status


def is_transient(exc: BaseException) -> bool:
    """Tell whether retrying ``exc`` later can succeed: throttling, 5xx, connection errors."""
    if isinstance(exc, (AtmoValidationError, AtmoConfigurationError)):
        return False

    code, status = _client_error_code(exc)
    if code is not None or status is not None:
        if code in THROTTLING_CODES or code in SERVER_FAULT_CODES:
            return True
        return status is not None and status >= 500

    # botocore's connection errors, without importing botocore at parse time.
    names = {cls.__name__ for cls in type(exc).__mro__}
    transient_names = {
        "ConnectionError",
        "EndpointConnectionError",
        "ConnectionClosedError",
        "ReadTimeoutError",
        "ConnectTimeoutError",
        "ProxyConnectionError",
        "HTTPClientError",
        "TimeoutError",
    }
    return bool(names & transient_names)
