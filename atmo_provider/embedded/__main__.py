"""Command line of the embedded AWS, a development and test facility.

Production talks to real EMR with the same provider code. ::

    python -m atmo_provider.embedded serve --host 127.0.0.1 --port 5000 [--timings fast|demo]
        [--seed] [--allow-non-loopback]

prints ``embedded AWS ready at http://HOST:PORT`` once the server answers and runs until SIGTERM
or SIGINT.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from atmo_provider.embedded.timings import LifecycleTimings

log = logging.getLogger("atmo_provider.embedded")


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the ``serve`` command."""
    parser = argparse.ArgumentParser(
        prog="python -m atmo_provider.embedded",
        description="Embedded AWS (moto with an EMR lifecycle) for development and tests.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve until SIGTERM or SIGINT")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=5000, help="port to bind; 0 picks a free one")
    serve.add_argument(
        "--timings",
        choices=("fast", "demo", "default"),
        default="demo",
        help="how long clusters stay in each state (default demo: a few seconds)",
    )
    serve.add_argument(
        "--seed",
        action="store_true",
        help="create the buckets and objects of the [atmo] settings once ready",
    )
    serve.add_argument(
        "--allow-non-loopback",
        action="store_true",
        help="allow binding an address other machines can reach",
    )
    return parser


def serve(args: argparse.Namespace) -> int:
    """Run the embedded AWS until SIGTERM or SIGINT; return the exit status."""
    from atmo_provider.embedded.control import EmbeddedAwsControl
    from atmo_provider.embedded.server import EmbeddedAws, is_loopback

    if not args.allow_non_loopback and not is_loopback(args.host):
        sys.stderr.write(
            f"refusing to bind {args.host}: the embedded AWS has no authentication; use a "
            "loopback address (127.0.0.1, ::1, localhost) or pass --allow-non-loopback\n"
        )
        return 2

    timings = (
        LifecycleTimings() if args.timings == "default" else LifecycleTimings.preset(args.timings)
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    aws = EmbeddedAws(
        args.host, args.port, timings=timings, allow_non_loopback=args.allow_non_loopback
    )
    aws.start()
    try:
        EmbeddedAwsControl(aws.endpoint_url).wait_until_healthy()
        if args.seed:
            from atmo_provider.embedded.seed import seed_embedded_aws
            from atmo_provider.settings import get_settings

            seed_embedded_aws(aws.endpoint_url, get_settings())
        sys.stdout.write(f"embedded AWS ready at {aws.endpoint_url}\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
        log.info("Stopping the embedded AWS at %s", aws.endpoint_url)
    finally:
        aws.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the command."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
