"""Benchmarks of airflow-provider-atmo against peers, run with ``python -m benchmarks.run``.

Each ``bench_*`` module exposes ``run(size) -> list[dict]`` (``size`` is ``smoke`` or
``full``) and runs alone as ``python -m benchmarks.<name> --size smoke``. A row compares our
figure with a peer's measured side by side in the same run: absolute times on a shared machine
are noisy, ratios of interleaved runs much less so.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "REPO_ROOT",
    "ROW_FIELDS",
    "SIZES",
    "format_table",
    "main",
    "median",
    "p95",
    "python_env",
    "row",
]

#: The repository's root folder.
REPO_ROOT = Path(__file__).resolve().parent.parent

#: Sizes a benchmark accepts.
SIZES = ("smoke", "full")

#: Fields of a result row, in table order.
ROW_FIELDS = ("benchmark", "metric", "ours", "peer", "ratio", "target", "met", "notes")


def median(values: Sequence[float]) -> float:
    """Return the median of ``values`` (NaN when there are none)."""
    return statistics.median(values) if values else math.nan


def p95(values: Sequence[float]) -> float:
    """Return the 95th percentile of ``values`` by the nearest-rank method (NaN when empty)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(0.95 * len(ordered)))
    return ordered[rank - 1]


def row(
    benchmark: str,
    metric: str,
    ours: float | None,
    peer: float | None,
    target: str,
    met: bool | None,
    notes: str = "",
) -> dict[str, Any]:
    """Return one result row; ``ratio`` is ``ours / peer`` when both are known.

    :param benchmark: the benchmark module's short name, e.g. ``parsing``.
    :param metric: what was measured, with its unit.
    :param ours: our figure, or None when it could not be measured.
    :param peer: the peer's figure measured in the same run, or None.
    :param target: the target in words, e.g. ``ratio <= 1.1``.
    :param met: whether the target is met; None when there is no target or no figure.
    :param notes: how it was measured, what is left out, why a target is missed.
    """
    ratio = None
    if ours is not None and peer not in (None, 0) and not math.isnan(peer):
        ratio = round(ours / peer, 3)
    return {
        "benchmark": benchmark,
        "metric": metric,
        "ours": None if ours is None else round(ours, 4),
        "peer": None if peer is None else round(peer, 4),
        "ratio": ratio,
        "target": target,
        "met": met,
        "notes": notes,
    }


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_table(rows: Sequence[dict[str, Any]], notes_width: int = 70) -> str:
    """Return ``rows`` as a fixed-width text table (notes cut to ``notes_width`` characters).

    :param rows: result rows as made by :func:`row`.
    :param notes_width: how much of each note to show; the JSON has all of it.
    """
    cells = [list(ROW_FIELDS)]
    for item in rows:
        line = [_cell(item.get(field)) for field in ROW_FIELDS]
        if len(line[-1]) > notes_width:
            line[-1] = line[-1][: notes_width - 3] + "..."
        cells.append(line)
    widths = [max(len(line[i]) for line in cells) for i in range(len(ROW_FIELDS))]
    lines = [
        "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True))
        for line in cells
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def python_env(**extra: str) -> dict[str, str]:
    """Return the environment for a benchmark subprocess: the repository on the path, quiet.

    :param extra: more variables to set.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        part for part in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if part
    )
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    env.setdefault("PYTHONWARNINGS", "ignore")
    env.update(extra)
    return env


def run_python(code: str, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    """Run ``code`` in a fresh interpreter of this venv and return its standard output.

    :param code: Python source to run with ``-c``.
    :param env: the environment, :func:`python_env` by default.
    :param timeout: seconds before the subprocess is killed.
    :raises RuntimeError: when the subprocess fails; the message ends with its stderr.
    """
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env or python_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(REPO_ROOT),
    )
    if done.returncode != 0:
        raise RuntimeError(f"subprocess exited with {done.returncode}: {done.stderr[-3000:]}")
    return done.stdout


def main(run: Callable[[str], list[dict[str, Any]]], argv: Sequence[str] | None = None) -> int:
    """Run one benchmark module from the command line: print its table, optionally its JSON.

    :param run: the module's ``run(size)``.
    :param argv: the arguments, ``sys.argv[1:]`` by default.
    """
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", choices=SIZES, default="smoke")
    parser.add_argument("--json", help="write the rows as JSON to this file")
    args = parser.parse_args(argv)

    rows = run(args.size)
    sys.stdout.write(format_table(rows) + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0
