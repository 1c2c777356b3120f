"""``python -m atmo_provider.embedded serve``: ready line, health, clean stop, loopback only."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys

import pytest

from atmo_provider.embedded.__main__ import build_parser, serve
from atmo_provider.embedded.control import EmbeddedAwsControl, EmbeddedAwsControlError
from atmo_provider.embedded.server import EmbeddedAws

READY = re.compile(r"^embedded AWS ready at (http://127\.0\.0\.1:\d+)$")


def read_line(process: subprocess.Popen, timeout: float) -> str:
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    if not ready:
        raise AssertionError(f"no line on stdout within {timeout} s")
    return process.stdout.readline().strip()


@pytest.fixture
def served():
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "atmo_provider.embedded",
            "serve",
            "--port",
            "0",
            "--timings",
            "fast",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        process.stdout.close()
        process.stderr.close()


def test_serve_prints_the_ready_line_once_the_server_answers(served):
    match = READY.match(read_line(served, timeout=60))

    assert match, "the first line announces the endpoint"
    assert EmbeddedAwsControl(match.group(1)).health()["status"] == "ok"


def test_serve_stops_cleanly_on_sigterm(served):
    endpoint = READY.match(read_line(served, timeout=60)).group(1)

    served.send_signal(signal.SIGTERM)

    assert served.wait(timeout=15) == 0
    with pytest.raises(EmbeddedAwsControlError, match="refused"):
        EmbeddedAwsControl(endpoint, timeout=1).health()


def test_serve_refuses_an_address_other_machines_can_reach(capsys):
    args = build_parser().parse_args(["serve", "--host", "0.0.0.0", "--port", "0"])

    assert serve(args) == 2
    assert "refusing to bind 0.0.0.0" in capsys.readouterr().err


def test_embedded_aws_refuses_a_non_loopback_host():
    with pytest.raises(ValueError, match="loopback addresses only"):
        EmbeddedAws(host="0.0.0.0")
