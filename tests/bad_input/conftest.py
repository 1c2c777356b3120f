"""Fixtures of the bad-input corpus: the cases, the tab's app, and the "nothing follows" check.

The cases live in ``tests/data/bad_inputs/*.jsonl``, one JSON object per line with at least
``field`` (the name the error must mention), ``value`` and ``why``. An ``xfail`` key marks a
case that shows a known bug; the test then fails strictly until the bug is fixed.

The tab's fixtures (``app``, ``client``, ``login``, ``records``, ``seed``, ``job_dag``...) are
the ones of ``tests/plugin/conftest.py``, imported so that both suites use the same set-up.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from atmo_provider.records.models import Base
from tests.plugin.conftest import (  # noqa: F401 - fixtures shared with the tab's tests
    _close_engines,
    app,
    client,
    job_dag,
    login,
    records,
    seed,
    settings,
)

CASES_FOLDER = Path(__file__).resolve().parents[1] / "data" / "bad_inputs"


def load_cases(name: str, *, expect_bugs: bool = True) -> list[Any]:
    """Return the cases of ``tests/data/bad_inputs/<name>.jsonl`` as pytest params.

    :param name: the file name without ``.jsonl``.
    :param expect_bugs: mark the cases with an ``xfail`` key as strict xfails; False for an
        entry point the bug does not concern.
    """
    cases = []
    lines = (CASES_FOLDER / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        case = json.loads(line)
        marks = []
        if expect_bugs and case.get("xfail"):
            marks.append(pytest.mark.xfail(strict=True, reason=case["xfail"]))
        case_id = f"{name}:{number}:{case['field']}:{case['why']}"
        cases.append(pytest.param(case, id=case_id, marks=marks))
    return cases


def row_counts(engine: Engine) -> dict[str, int]:
    """Return the number of rows of every table of the records database ``engine``.

    :param engine: a migrated records database.
    """
    with engine.connect() as connection:
        return {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in Base.metadata.sorted_tables
        }


def aws_calls(aws: Any) -> dict[str, dict[str, int]]:
    """Return the embedded AWS's call counts per service and operation, without empty ones.

    :param aws: the ``embedded_aws`` handle.
    """
    counts = aws.control.call_counts()
    return {service: dict(ops) for service, ops in counts.items() if ops}


@pytest.fixture
def nothing_follows(
    embedded_aws,
    records: Engine,  # noqa: F811 - the imported fixture, requested by name
) -> Iterator[Callable[[], None]]:
    """Check that a refused input left no trace: no AWS call and no new or removed record.

    Call counts are reset before the test; the test calls the returned function after
    giving its bad input.
    """
    embedded_aws.control.reset_call_counts()
    before = row_counts(records)

    def check() -> None:
        assert aws_calls(embedded_aws) == {}
        assert row_counts(records) == before

    yield check
    embedded_aws.control.reset_call_counts()
