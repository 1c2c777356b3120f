"""The control API of the embedded AWS: JSON over HTTP under ``/_atmo/``.

Part of the embedded AWS, a development and test facility; production talks to real AWS with the
same provider code and has nothing like it. Routes:

- ``GET /_atmo/health``: 200 with the timings and the number of clusters driven;
- ``GET|POST|DELETE /_atmo/faults``: list, add (one rule as a JSON object) or clear fault rules;
- ``GET|POST /_atmo/timings``: read or change the timings (``{"preset": "fast"}`` and/or fields);
- ``GET /_atmo/calls``: AWS calls by service and action since start or reset;
- ``POST /_atmo/calls/reset``: forget the call counts;
- ``POST /_atmo/reset``: clear the fault rules and the call counts.

:class:`atmo_provider.embedded.control.EmbeddedAwsControl` is the client.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from atmo_provider.embedded.calls import CallCounter
from atmo_provider.embedded.faults import FaultRule
from atmo_provider.embedded.lifecycle import EmrLifecycle
from atmo_provider.embedded.timings import LifecycleTimings

__all__ = ["CONTROL_PREFIX", "ControlApi"]

log = logging.getLogger(__name__)

#: Path prefix of the control API.
CONTROL_PREFIX = "/_atmo/"

_REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 404: "Not Found", 405: "Not Allowed"}


class _BadRequest(Exception):
    pass


class ControlApi:
    """WSGI application of the control API.

    :param lifecycle: the lifecycle whose fault rules and timings it changes.
    :param counter: the AWS call counter it reports and resets.
    """

    def __init__(self, lifecycle: EmrLifecycle, counter: CallCounter) -> None:
        self.lifecycle = lifecycle
        self.counter = counter
        self._routes: dict[tuple[str, str], Callable[[Any], tuple[int, Any]]] = {
            ("GET", "health"): self._health,
            ("GET", "faults"): self._list_faults,
            ("POST", "faults"): self._add_fault,
            ("DELETE", "faults"): self._clear_faults,
            ("GET", "timings"): self._get_timings,
            ("POST", "timings"): self._set_timings,
            ("GET", "calls"): self._calls,
            ("POST", "calls/reset"): self._reset_calls,
            ("POST", "reset"): self._reset,
        }

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """Answer one control request."""
        method = environ.get("REQUEST_METHOD", "GET")
        route = environ.get("PATH_INFO", "")[len(CONTROL_PREFIX) :].strip("/")
        handler = self._routes.get((method, route))
        paths = sorted({path for _method, path in self._routes})
        if handler is None and route in paths:
            status, payload = 405, {"error": f"{method} is not allowed on {route}"}
        elif handler is None:
            status, payload = 404, {"error": f"no control route {route!r}; routes: {paths}"}
        else:
            try:
                status, payload = handler(_read_json(environ))
            except (_BadRequest, ValueError, TypeError) as error:
                status, payload = 400, {"error": str(error)}

        body = json.dumps(payload).encode()
        start_response(
            f"{status} {_REASONS[status]}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]

    def _health(self, _body: Any) -> tuple[int, Any]:
        with self.lifecycle.lock:
            timings = self.lifecycle.timings.to_dict()
        return 200, {"status": "ok", "timings": timings}

    def _list_faults(self, _body: Any) -> tuple[int, Any]:
        with self.lifecycle.lock:
            return 200, {"faults": self.lifecycle.faults.rules()}

    def _add_fault(self, body: Any) -> tuple[int, Any]:
        rule = FaultRule.from_dict(body)
        with self.lifecycle.lock:
            self.lifecycle.faults.add(rule)
        log.info(
            "Added fault %s for clusters named *%s* (%d time(s))",
            rule.fault,
            rule.name_contains,
            rule.times,
        )
        return 201, {"rule": rule.to_dict()}

    def _clear_faults(self, _body: Any) -> tuple[int, Any]:
        with self.lifecycle.lock:
            self.lifecycle.faults.clear()
        return 200, {"faults": []}

    def _get_timings(self, _body: Any) -> tuple[int, Any]:
        with self.lifecycle.lock:
            return 200, {"timings": self.lifecycle.timings.to_dict()}

    def _set_timings(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            raise _BadRequest("timings must be a JSON object")
        changes = dict(body)
        preset = changes.pop("preset", None)
        with self.lifecycle.lock:
            base = LifecycleTimings.preset(preset) if preset else self.lifecycle.timings
            self.lifecycle.timings = base.replace(**changes)
            timings = self.lifecycle.timings.to_dict()
        log.info("Timings are now %s", timings)
        return 200, {"timings": timings}

    def _calls(self, _body: Any) -> tuple[int, Any]:
        return 200, {"calls": self.counter.snapshot()}

    def _reset_calls(self, _body: Any) -> tuple[int, Any]:
        self.counter.reset()
        return 200, {"calls": {}}

    def _reset(self, _body: Any) -> tuple[int, Any]:
        with self.lifecycle.lock:
            self.lifecycle.faults.clear()
        self.counter.reset()
        return 200, {"faults": [], "calls": {}}


def _read_json(environ: dict[str, Any]) -> Any:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise _BadRequest("the request body must be JSON") from None
