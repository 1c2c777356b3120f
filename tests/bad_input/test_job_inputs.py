"""Bad Spark job specs and notebooks: refused naming the field, with no job, record or AWS call.

Specs go through :func:`atmo_provider.jobs.spec.load_job_specs` on a folder holding one spec
and its notebook, the way the DAG file reads the jobs folder; notebooks through
:func:`atmo_provider.notebooks.validate_notebook`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from atmo_provider.errors import AtmoValidationError
from atmo_provider.jobs.spec import load_job_specs
from atmo_provider.notebooks import MAX_NOTEBOOK_BYTES, validate_notebook
from tests.bad_input.conftest import load_cases

RELEASES = ("6.15.0", "6.10.1")

VALID_SPEC: dict[str, Any] = {
    "identifier": "nightly-counts",
    "owner": "ada",
    "owner_email": "ada@example.com",
    "description": "Counts the things.",
    "notebook": "counts.ipynb",
    "interval": "daily",
    "start_date": "2024-01-01T00:00:00",
}

NOTEBOOK = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}


def write_spec(folder: Path, spec: dict[str, Any]) -> Path:
    """Write ``spec`` and a valid notebook next to it; return the spec file."""
    (folder / "counts.ipynb").write_text(json.dumps(NOTEBOOK), encoding="utf-8")
    path = folder / "job.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return path


def test_the_valid_base_spec_loads(tmp_path):
    write_spec(tmp_path, VALID_SPEC)

    specs, errors = load_job_specs(tmp_path, RELEASES)

    assert errors == []
    assert [spec.identifier for spec in specs] == ["nightly-counts"]


@pytest.mark.parametrize("case", load_cases("job_specs"))
def test_spec_is_refused_naming_the_field_and_nothing_follows(case, tmp_path, nothing_follows):
    folder = tmp_path / "jobs"
    folder.mkdir()
    write_spec(folder, {**VALID_SPEC, case["field"]: case["value"]})

    specs, errors = load_job_specs(folder, RELEASES)

    assert specs == []
    assert case["field"] in [error.field for error in errors]
    assert any(f": {case['field']}: " in str(error) for error in errors)
    nothing_follows()


def test_spec_that_is_not_yaml_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("identifier: [unclosed\n", encoding="utf-8")

    specs, errors = load_job_specs(tmp_path, RELEASES)

    assert specs == []
    assert [str(path)] == [error.file for error in errors]
    assert "YAML" in errors[0].message


@pytest.mark.parametrize("case", load_cases("notebooks"))
def test_notebook_is_refused_naming_the_field_and_nothing_follows(case, tmp_path, nothing_follows):
    path = tmp_path / "bad.ipynb"
    path.write_text(case["value"], encoding="utf-8")

    with pytest.raises(AtmoValidationError) as refused:
        validate_notebook(path)

    assert refused.value.field == case["field"]
    assert str(refused.value).startswith(f"{case['field']}: {path}")
    nothing_follows()


def test_notebook_over_the_size_limit_is_refused_before_it_is_parsed(tmp_path, nothing_follows):
    path = tmp_path / "huge.ipynb"
    filler = "x" * (MAX_NOTEBOOK_BYTES + 1 - len('{"nbformat": 4, "cells": [], "pad": ""}'))
    path.write_text(json.dumps({"nbformat": 4, "cells": [], "pad": filler}), encoding="utf-8")
    assert path.stat().st_size == MAX_NOTEBOOK_BYTES + 1

    with pytest.raises(AtmoValidationError, match="at most") as refused:
        validate_notebook(path)

    assert refused.value.field == "notebook"
    nothing_follows()


def test_notebook_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "latin1.ipynb"
    path.write_bytes('{"nbformat": 4, "cells": [], "x": "caf\xe9"}'.encode("latin-1"))

    with pytest.raises(AtmoValidationError) as refused:
        validate_notebook(path)

    assert refused.value.field == "notebook"
