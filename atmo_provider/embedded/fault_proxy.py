"""A fault-injection HTTP proxy in front of the embedded AWS, for failure tests.

Part of the embedded AWS, a development and test facility; production talks to real AWS. Point
an AWS connection's ``endpoint_url`` at :attr:`FaultProxy.endpoint_url` and every call of that
connection (tasks, triggers, child processes) crosses the proxy, which forwards it to the
embedded AWS unless a :class:`~atmo_provider.embedded.fault_rules.WireRule` says to throttle
it, fail it, delay it, or apply it and drop the answer. Calls are named as
:mod:`atmo_provider.embedded.calls` names them (EMR by ``X-Amz-Target``, S3 by method and path).

Only the standard library is used; the proxy listens on 127.0.0.1 by default.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from atmo_provider.embedded.calls import AwsCall, classify
from atmo_provider.embedded.fault_rules import WireRule, WireRuleBook

__all__ = ["FaultProxy", "WireRule"]

log = logging.getLogger(__name__)

#: Headers that belong to one HTTP hop and are not passed on.
_HOP_HEADERS = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
}


def _s3_error(code: str, message: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        "<RequestId>atmo-fault-proxy</RequestId></Error>"
    ).encode()


def _query_error(code: str, message: str) -> bytes:
    return (
        "<ErrorResponse><Error><Type>Sender</Type>"
        f"<Code>{code}</Code><Message>{message}</Message></Error>"
        "<RequestId>atmo-fault-proxy</RequestId></ErrorResponse>"
    ).encode()


def error_answer(call: AwsCall, json_protocol: bool, effect: str) -> tuple[int, str, bytes]:
    """Return ``(status, content type, body)`` of AWS's answer for a spoiled call.

    :param call: the AWS call.
    :param json_protocol: whether the request used the JSON protocol (``X-Amz-Target``).
    :param effect: ``throttle`` or ``error500``.
    """
    if effect == "throttle":
        if json_protocol:
            body = {"__type": "ThrottlingException", "message": "Rate exceeded"}
            return 400, "application/x-amz-json-1.1", json.dumps(body).encode()
        if call.service == "s3":
            return (
                503,
                "application/xml",
                _s3_error("SlowDown", "Please reduce your request rate."),
            )
        return 400, "text/xml", _query_error("Throttling", "Rate exceeded")

    if json_protocol:
        body = {"__type": "InternalServerError", "message": "We encountered an internal error."}
        return 500, "application/x-amz-json-1.1", json.dumps(body).encode()
    if call.service == "s3":
        return 500, "application/xml", _s3_error("InternalError", "We encountered an error.")
    return 500, "text/xml", _query_error("InternalFailure", "We encountered an error.")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ProxyServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("fault proxy: " + format, *args)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Trailers end with an empty line.
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        body = self._read_body()
        headers = {name.lower(): value for name, value in self.headers.items()}
        path, _, query = self.path.partition("?")
        form = ""
        if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            form = body.decode("utf-8", errors="replace")
        call = classify(self.command, path, query, headers, form)
        rule = self.server.proxy.rules.decide(call.service, call.action)
        effect = rule.effect if rule is not None else "forward"
        self.server.proxy._count(call, effect)

        if effect in ("throttle", "error500"):
            status, content_type, answer = error_answer(call, "x-amz-target" in headers, effect)
            log.info("fault proxy: answered %s %s with %d", call.service, call.action, status)
            self._answer(status, [("Content-Type", content_type)], answer)
            return
        if effect == "delay":
            time.sleep(rule.delay if rule is not None else 0.0)

        status, reason, upstream_headers, answer = self.server.proxy._forward(
            self.command, self.path, self.headers.items(), body
        )
        self.server.proxy._count_applied(call, status)
        if effect == "drop_after_apply":
            log.info(
                "fault proxy: %s %s applied upstream (%d); dropping the answer",
                call.service,
                call.action,
                status,
            )
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self._answer(status, upstream_headers, answer, reason)

    def _answer(
        self, status: int, headers: list[tuple[str, str]], body: bytes, reason: str | None = None
    ) -> None:
        self.send_response(status, reason)
        for name, value in headers:
            if name.lower() not in _HOP_HEADERS and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _handle


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    proxy: FaultProxy


class FaultProxy:
    """A threaded HTTP proxy that forwards AWS calls to ``upstream_url`` and spoils some.

    :param upstream_url: the embedded AWS endpoint, e.g. ``http://127.0.0.1:5000``.
    :param host: the address to listen on.
    :param port: the port to listen on; 0 for a free one.
    :param seed: the seed deciding which share of calls a rule spoils.
    """

    def __init__(
        self, upstream_url: str, host: str = "127.0.0.1", port: int = 0, seed: int = 0
    ) -> None:
        upstream = urlsplit(upstream_url)
        if upstream.scheme != "http" or not upstream.hostname:
            raise ValueError(f"upstream_url must be an http:// URL, got {upstream_url!r}")
        self.upstream_host = upstream.hostname
        self.upstream_port = upstream.port or 80
        self.rules = WireRuleBook(seed)
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str, str]] = Counter()
        self._applied: Counter[tuple[str, str]] = Counter()
        self._server = _ProxyServer((host, port), _Handler)
        self._server.proxy = self
        self._thread: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        """The proxy's URL, for an AWS connection's ``endpoint_url``."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FaultProxy:
        """Serve in a background thread; return the proxy."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="atmo-fault-proxy", daemon=True
        )
        self._thread.start()
        log.info("Fault proxy on %s forwards to %s", self.endpoint_url, self.upstream_host)
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_rules(self, rules: list[WireRule], seed: int | None = None) -> None:
        """Replace the rules; reseed the random source when ``seed`` is given."""
        self.rules.set_rules(rules, seed)

    def clear(self) -> None:
        """Drop every rule and forget every count."""
        self.rules.clear()
        with self._lock:
            self._counts.clear()
            self._applied.clear()

    def counts(self, effect: str | None = None) -> dict[str, dict[str, int]]:
        """Return ``{service: {action: n}}`` of the calls the proxy saw.

        :param effect: only calls it treated so (``forward``, ``throttle``, ``error500``,
            ``drop_after_apply``, ``delay``); ``None`` for every call.
        """
        result: dict[str, dict[str, int]] = {}
        with self._lock:
            for (service, action, done), n in self._counts.items():
                if effect is None or done == effect:
                    actions = result.setdefault(service, {})
                    actions[action] = actions.get(action, 0) + n
        return result

    def applied(self, service: str, action: str) -> int:
        """Return how many calls of ``action`` the upstream answered with a 2xx status."""
        with self._lock:
            return self._applied[(service, action)]

    def _count(self, call: AwsCall, effect: str) -> None:
        with self._lock:
            self._counts[(call.service, call.action, effect)] += 1

    def _count_applied(self, call: AwsCall, status: int) -> None:
        if 200 <= status < 300:
            with self._lock:
                self._applied[(call.service, call.action)] += 1

    def _forward(
        self, method: str, path: str, headers: Any, body: bytes
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=60)
        try:
            passed = {
                name: value
                for name, value in headers
                if name.lower() not in _HOP_HEADERS and name.lower() != "content-length"
            }
            passed["Content-Length"] = str(len(body))
            connection.request(method, path, body=body, headers=passed)
            response = connection.getresponse()
            answer = response.read()
            return response.status, response.reason, response.getheaders(), answer
        finally:
            connection.close()
