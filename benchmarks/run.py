"""Run the benchmark suite: every ``benchmarks/bench_*.py``, one fresh interpreter each.

``python -m benchmarks.run [--size smoke|full] [--only NAME ...] [--json PATH] [--strict]``
prints one table of all rows and writes them as JSON with the date and the machine (CPUs,
memory, Python and Airflow versions), by default to ``benchmarks/results/latest.json``. A
module that is missing, fails or runs out of time becomes an ``error`` row; the exit status
is non-zero for that only with ``--strict``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks import REPO_ROOT, SIZES, format_table, python_env, row

__all__ = ["discover", "machine_info", "main", "run_module"]

BENCH_DIR = Path(__file__).resolve().parent

#: Default place of the JSON results.
DEFAULT_JSON = BENCH_DIR / "results" / "latest.json"

#: Seconds one module may take, by size.
MODULE_TIMEOUT = {"smoke": 300, "full": 900}

_CHILD = """
import json, sys
from benchmarks import {name} as module
rows = module.run({size!r})
with open({out!r}, "w") as handle:
    json.dump(rows, handle)
"""


def discover() -> list[str]:
    """Return the short names of the benchmark modules present, e.g. ``["backoff", ...]``."""
    return sorted(path.stem[len("bench_") :] for path in BENCH_DIR.glob("bench_*.py"))


def machine_info() -> dict[str, Any]:
    """Return what the figures depend on: CPUs, memory, Python, Airflow and the provider."""
    memory_mb = None
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    memory_mb = int(line.split()[1]) // 1024
    except OSError:
        pass

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {
        "nproc": os.cpu_count(),
        "memory_mb": memory_mb,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "airflow": version("apache-airflow"),
        "airflow_provider_atmo": version("airflow-provider-atmo"),
        "dag_factory": version("dag-factory"),
    }


def run_module(name: str, size: str) -> tuple[list[dict[str, Any]], float]:
    """Run ``benchmarks.bench_<name>`` in a fresh interpreter; return its rows and seconds.

    A module that is missing or fails gives one row with ``metric`` ``error``.

    :param name: the short name, e.g. ``parsing``.
    :param size: ``smoke`` or ``full``.
    """
    module = f"bench_{name}"
    start = time.monotonic()
    if not (BENCH_DIR / f"{module}.py").exists():
        return [row(name, "error", None, None, "", False, f"module {module}.py not found")], 0.0

    with tempfile.TemporaryDirectory(prefix="atmo-bench-") as folder:
        out = os.path.join(folder, "rows.json")
        code = _CHILD.format(name=module, size=size, out=out)
        try:
            done = subprocess.run(
                [sys.executable, "-c", code],
                env=python_env(),
                cwd=str(REPO_ROOT),
                capture_output=True,
                text=True,
                timeout=MODULE_TIMEOUT[size],
            )
        except subprocess.TimeoutExpired:
            note = f"did not finish within {MODULE_TIMEOUT[size]} s"
            return [row(name, "error", None, None, "", False, note)], time.monotonic() - start

        elapsed = time.monotonic() - start
        if done.returncode != 0 or not os.path.exists(out):
            tail = " | ".join(done.stderr.strip().splitlines()[-3:])
            note = f"exited with {done.returncode}: {tail}"
            return [row(name, "error", None, None, "", False, note)], elapsed
        with open(out, encoding="utf-8") as handle:
            return json.load(handle), elapsed


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected benchmarks, print the table and write the JSON; return the exit code.

    :param argv: the command line arguments, ``sys.argv[1:]`` by default.
    """
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--size", choices=SIZES, default="smoke")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="e.g. parsing dashboard")
    parser.add_argument("--json", default=str(DEFAULT_JSON), help="where to write the results")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a module fails")
    args = parser.parse_args(argv)

    names = [name.removeprefix("bench_") for name in args.only] if args.only else discover()
    started = datetime.datetime.now(datetime.timezone.utc)
    rows: list[dict[str, Any]] = []
    durations: dict[str, float] = {}
    for name in names:
        sys.stderr.write(f"benchmarks: running {name} ({args.size})\n")
        module_rows, durations[name] = run_module(name, args.size)
        rows.extend(module_rows)
        sys.stderr.write(f"benchmarks: {name} done in {durations[name]:.1f} s\n")

    sys.stdout.write(format_table(rows) + "\n")
    result = {
        "date": started.isoformat(timespec="seconds"),
        "size": args.size,
        "machine": machine_info(),
        "seconds_per_module": {name: round(value, 1) for name, value in durations.items()},
        "rows": rows,
    }
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    sys.stderr.write(f"benchmarks: results written to {path}\n")

    failed = [item for item in rows if item["metric"] == "error"]
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    sys.exit(main())
