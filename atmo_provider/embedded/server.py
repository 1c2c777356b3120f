"""The embedded AWS: moto's server in this process, with an EMR lifecycle and a control API.

This is a development and test facility. Production talks to real EMR and S3 with the same
provider code; only the Airflow connection's ``endpoint_url`` points elsewhere.

:class:`EmbeddedAws` serves, on one loopback port, moto's AWS services plus:

- an EMR lifecycle driver (:mod:`atmo_provider.embedded.lifecycle`), because moto's clusters
  never move on their own;
- EMR answers closer to EMR's (:mod:`atmo_provider.embedded.emr_api`);
- a control API under ``/_atmo/`` (:mod:`atmo_provider.embedded.control_api`) for fault rules,
  timings and the count of AWS calls.

Each AWS request is named (:class:`~atmo_provider.embedded.calls.AwsCall`) and counted, then
passed to :attr:`EmbeddedAwsApp.forward`. That attribute is the seam for anything that should
act per call before AWS answers, such as a fault injector that throttles a share of calls:
wrap it, ``app.forward = injector(app.forward)``, with the same signature.

Limitation: moto keeps its state in module globals, so all embedded AWS instances of a process
share buckets and clusters, and ``mock_aws`` started in the same process resets them.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

from atmo_provider.embedded.calls import AwsCall, CallCounter, classify_environ
from atmo_provider.embedded.control_api import CONTROL_PREFIX, ControlApi
from atmo_provider.embedded.emr_api import EmrApi
from atmo_provider.embedded.lifecycle import EmrLifecycle, LifecycleDriver
from atmo_provider.embedded.timings import LifecycleTimings

__all__ = ["EmbeddedAws", "EmbeddedAwsApp", "LifecycleTimings", "is_loopback"]

log = logging.getLogger(__name__)

#: A handler of one AWS call: the named call, then the WSGI environ and start_response.
CallHandler = Callable[[AwsCall, dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def is_loopback(host: str) -> bool:
    """Tell whether a host name or address only reaches this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _QuietRequestHandler(MotoRequestHandler):
    """moto's request handler, logging each request at DEBUG instead of to stderr."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("%s %s", self.requestline, code)


class EmbeddedAwsApp:
    """The WSGI application of the embedded AWS.

    :param lifecycle: the EMR lifecycle EMR requests share.
    :param counter: where AWS calls are counted.
    """

    def __init__(self, lifecycle: EmrLifecycle, counter: CallCounter) -> None:
        self.moto_app = DomainDispatcherApplication(create_backend_app)
        self.control = ControlApi(lifecycle, counter)
        self.emr = EmrApi(lifecycle, self.moto_app)
        self.counter = counter
        #: Where each counted AWS call goes; wrap it to act on calls before AWS answers.
        self.forward: CallHandler = self._route

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """Answer one HTTP request."""
        path = environ.get("PATH_INFO", "")
        if path.startswith(CONTROL_PREFIX) or path == CONTROL_PREFIX.rstrip("/"):
            return self.control(environ, start_response)
        if path.startswith("/moto-api"):
            return self.moto_app(environ, start_response)

        call = classify_environ(environ)
        self.counter.record(call)
        return self.forward(call, environ, start_response)

    def _route(
        self, call: AwsCall, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if call.service == "emr":
            return self.emr(call, environ, start_response)
        return self.moto_app(environ, start_response)


class EmbeddedAws:
    """moto's AWS services with an EMR lifecycle, served from a thread of this process.

    :param host: the address to bind, a loopback address unless ``allow_non_loopback``.
    :param port: the port to bind; 0 picks a free one (read :attr:`port` after :meth:`start`).
    :param timings: how long clusters and steps stay in each state.
    :param allow_non_loopback: allow binding an address other hosts can reach.
    :param tick_interval: seconds between two moves of the lifecycle driver.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        timings: LifecycleTimings | None = None,
        *,
        allow_non_loopback: bool = False,
        tick_interval: float = 0.1,
    ) -> None:
        if not allow_non_loopback and not is_loopback(host):
            raise ValueError(
                f"the embedded AWS binds loopback addresses only (127.0.0.1, ::1, localhost), "
                f"got {host!r}; pass allow_non_loopback=True to bind it anyway"
            )
        self.host = host
        self._requested_port = port
        self.lifecycle = EmrLifecycle(timings or LifecycleTimings())
        self.counter = CallCounter()
        self.driver = LifecycleDriver(self.lifecycle, tick_interval)
        self.app: EmbeddedAwsApp | None = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port the server listens on."""
        if self._server is None:
            raise RuntimeError("the embedded AWS is not started; call start() first")
        return self._server.server_port

    @property
    def endpoint_url(self) -> str:
        """The URL to give boto3 or an Airflow connection as ``endpoint_url``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> EmbeddedAws:
        """Bind the port and start serving and driving clusters; return self."""
        if self._server is not None:
            raise RuntimeError("the embedded AWS is already started")
        self.app = EmbeddedAwsApp(self.lifecycle, self.counter)
        self._server = make_server(
            self.host,
            self._requested_port,
            self.app,
            threaded=True,
            request_handler=_QuietRequestHandler,
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="embedded-aws", daemon=True
        )
        self._thread.start()
        self.driver.start()
        log.info("Embedded AWS serving at %s", self.endpoint_url)
        return self

    def stop(self) -> None:
        """Stop driving clusters and serving, and release the port."""
        self.driver.stop()
        if self._server is None:
            return
        endpoint = self.endpoint_url
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = None
        self._thread = None
        log.info("Embedded AWS at %s stopped", endpoint)

    def __enter__(self) -> EmbeddedAws:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
