"""Client of the embedded AWS control API (fault rules, timings, AWS call counts).

Part of the embedded AWS, a development and test facility; production talks to real AWS with the
same provider code and has no control API. Uses only the standard library, so a test or a stack
script can drive an embedded AWS running in another process.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from atmo_provider.embedded.timings import LifecycleTimings

__all__ = ["EmbeddedAwsControl", "EmbeddedAwsControlError"]


class EmbeddedAwsControlError(RuntimeError):
    """The control API refused a request or could not be reached."""


class EmbeddedAwsControl:
    """Talk to the control API of an embedded AWS.

    :param endpoint_url: the embedded AWS endpoint, e.g. ``http://127.0.0.1:5000``.
    :param timeout: seconds to wait for each answer.
    """

    def __init__(self, endpoint_url: str, timeout: float = 10.0) -> None:
        self.endpoint_url = endpoint_url.rstrip("/")
        self.timeout = timeout
        # The embedded AWS is local: never send control requests through an HTTP proxy.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def health(self) -> dict[str, Any]:
        """Return the health document (status and current timings)."""
        return self._request("GET", "health")

    def wait_until_healthy(self, timeout: float = 15.0, interval: float = 0.1) -> dict[str, Any]:
        """Poll the health route until it answers; raise after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.health()
            except EmbeddedAwsControlError:
                if time.monotonic() >= deadline:
                    raise
            time.sleep(interval)

    def add_fault(
        self,
        *,
        name_contains: str,
        fault: str,
        times: int = 1,
        code: str | None = None,
        message: str | None = None,
    ) -> dict[str, Any]:
        """Add a fault rule for new clusters whose ``Name`` contains ``name_contains``.

        :param name_contains: substring of the cluster name.
        :param fault: ``bootstrap_failure``, ``terminated_with_errors``, ``step_failed``,
            ``step_cancelled``, ``no_log_uri`` or ``spot_capacity_refused``.
        :param times: how many clusters the rule applies to.
        :param code: reason code to report instead of the fault's default.
        :param message: reason message to report instead of the fault's default.
        :return: the rule as the server stored it.
        """
        rule: dict[str, Any] = {"name_contains": name_contains, "fault": fault, "times": times}
        if code is not None:
            rule["code"] = code
        if message is not None:
            rule["message"] = message
        return self._request("POST", "faults", rule)["rule"]

    def faults(self) -> list[dict[str, Any]]:
        """Return the fault rules that still have uses left."""
        return self._request("GET", "faults")["faults"]

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self._request("DELETE", "faults")

    def timings(self) -> LifecycleTimings:
        """Return the current timings."""
        return LifecycleTimings(**self._request("GET", "timings")["timings"])

    def set_timings(
        self, timings: LifecycleTimings | str | None = None, **changes: float
    ) -> LifecycleTimings:
        """Change the timings of the lifecycle driver.

        :param timings: a :class:`LifecycleTimings`, or the preset name ``fast`` or ``demo``;
            None keeps the current timings as the base.
        :param changes: single timings to change on top, e.g. ``step_running=5``.
        :return: the timings now in force.
        """
        body: dict[str, Any] = {}
        if isinstance(timings, LifecycleTimings):
            body.update(timings.to_dict())
        elif isinstance(timings, str):
            body["preset"] = timings
        body.update(changes)
        return LifecycleTimings(**self._request("POST", "timings", body)["timings"])

    def call_counts(self) -> dict[str, dict[str, int]]:
        """Return AWS calls by service and action, e.g. ``{"emr": {"DescribeCluster": 3}}``."""
        return self._request("GET", "calls")["calls"]

    def reset_call_counts(self) -> None:
        """Forget the AWS call counts."""
        self._request("POST", "calls/reset")

    def reset(self) -> None:
        """Remove every fault rule and forget the AWS call counts."""
        self._request("POST", "reset")

    def _request(self, method: str, route: str, body: Any = None) -> Any:
        url = f"{self.endpoint_url}/_atmo/{route}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            try:
                detail = json.loads(detail).get("error", detail)
            except ValueError:
                pass
            raise EmbeddedAwsControlError(
                f"{method} {url} answered {error.code}: {detail}"
            ) from None
        except (urllib.error.URLError, OSError) as error:
            raise EmbeddedAwsControlError(f"{method} {url} failed: {error}") from None
