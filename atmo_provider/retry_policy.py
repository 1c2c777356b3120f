"""Task retry policy: full-jitter delays for transient failures, no retry where none can help.

Airflow's built-in exponential retry delay gives every client of a failed API the same first
retry time; this policy spreads retries with :class:`~atmo_provider.backoff.ExpoBackoffFullJitter`
and fails at once on invalid input, validation errors and denied access.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import RetryDecision, RetryPolicy

from atmo_provider.backoff import ExpoBackoffFullJitter
from atmo_provider.errors import AtmoValidationError, is_transient

if TYPE_CHECKING:
    from airflow.sdk.definitions.context import Context

__all__ = ["FullJitterRetryPolicy"]

#: AWS error codes after which a retry cannot succeed.
FINAL_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ValidationException",
        "ValidationError",
        "InvalidParameterValue",
        "InvalidRequestException",
        "NoSuchBucket",
    }
)

#: Exception class names that mean the input, not the world, is wrong.
FINAL_EXCEPTION_NAMES = frozenset(
    {"ParamValidationError", "ValidationError", "AtmoValidationError", "AtmoConfigurationError"}
)


class FullJitterRetryPolicy(RetryPolicy):
    """Retry transient failures after a full-jitter delay; fail at once when retrying is futile.

    :param base: ceiling of the first retry delay, in seconds.
    :param cap: largest retry delay, in seconds.
    """

    def __init__(self, base: float = 30, cap: float = 600) -> None:
        self.base = base
        self.cap = cap

    def evaluate(
        self,
        exception: BaseException,
        try_number: int,
        max_tries: int,
        context: Context | None = None,
    ) -> RetryDecision:
        """Decide whether the failed try ``try_number`` is retried, and after how long."""
        if _is_final(exception):
            return RetryDecision.fail(reason=f"not retried: {exception}")

        delay = ExpoBackoffFullJitter(self.base, self.cap).backoff(max(try_number - 1, 0))
        reason = "transient failure" if is_transient(exception) else "failure"
        return RetryDecision.retry(
            delay=timedelta(seconds=delay), reason=f"{reason}, retrying in {delay:.1f} s"
        )

    def serialize(self) -> dict[str, Any]:
        """Describe the policy for DAG serialization."""
        return {"base": self.base, "cap": self.cap}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> FullJitterRetryPolicy:
        """Rebuild the policy from :meth:`serialize`'s output."""
        return cls(base=data["base"], cap=data["cap"])


def _is_final(exc: BaseException) -> bool:
    if isinstance(exc, AtmoValidationError):
        return True

    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & FINAL_EXCEPTION_NAMES:
        return True

    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = (response.get("Error") or {}).get("Code")
        return code in FINAL_CODES

    return False
