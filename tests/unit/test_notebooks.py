"""Tests of notebook validation: nbformat 4 JSON with cells, named .ipynb, not too large."""

from __future__ import annotations

import json

import pytest

from atmo_provider.errors import AtmoValidationError
from atmo_provider.notebooks import validate_notebook, validate_notebook_text


def _notebook(cells=None, nbformat=4) -> dict:
    return {
        "nbformat": nbformat,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3"}},
        "cells": cells
        if cells is not None
        else [
            {"cell_type": "markdown", "metadata": {}, "source": "# Counts"},
            {
                "cell_type": "code",
                "metadata": {},
                "source": ["x = 1\n", "print(x)"],
                "outputs": [],
                "execution_count": None,
            },
        ],
    }


def _write(tmp_path, content, name="job.ipynb"):
    path = tmp_path / name
    if isinstance(content, (dict, list)):
        content = json.dumps(content)
    path.write_text(content)
    return path


def test_accepts_an_nbformat_4_notebook_and_returns_it(tmp_path):
    path = _write(tmp_path, _notebook())

    notebook = validate_notebook(path)

    assert [cell["cell_type"] for cell in notebook["cells"]] == ["markdown", "code"]


def test_accepts_a_notebook_named_json(tmp_path):
    path = _write(tmp_path, _notebook(), name="job.json")

    assert validate_notebook(path)["nbformat"] == 4


def test_a_missing_file_is_named_in_the_error(tmp_path):
    path = tmp_path / "absent.ipynb"

    with pytest.raises(AtmoValidationError, match="absent.ipynb does not exist") as raised:
        validate_notebook(path)

    assert raised.value.field == "notebook"


def test_a_wrong_extension_says_what_is_allowed(tmp_path):
    path = _write(tmp_path, _notebook(), name="job.py")

    with pytest.raises(AtmoValidationError, match=r"job.py must be .* \.ipynb or \.json"):
        validate_notebook(path)


def test_a_file_over_the_size_limit_is_refused_with_both_sizes(tmp_path):
    path = _write(tmp_path, _notebook())
    size = path.stat().st_size

    with pytest.raises(AtmoValidationError, match=f"is {size} bytes; .* at most {size - 1} bytes"):
        validate_notebook(path, max_bytes=size - 1)


def test_invalid_json_is_refused_naming_the_file(tmp_path):
    path = _write(tmp_path, '{"nbformat": 4, "cells": [')

    with pytest.raises(AtmoValidationError, match="job.ipynb is not valid JSON"):
        validate_notebook(path)


def test_an_older_nbformat_is_refused():
    with pytest.raises(AtmoValidationError, match="has nbformat 3; only nbformat 4"):
        validate_notebook_text(json.dumps(_notebook(nbformat=3)), "old.ipynb")


def test_a_json_list_is_not_a_notebook():
    with pytest.raises(AtmoValidationError, match="list.ipynb is not a notebook"):
        validate_notebook_text("[1, 2]", "list.ipynb")


def test_cells_must_be_a_list():
    document = _notebook()
    document["cells"] = {"0": "x"}

    with pytest.raises(AtmoValidationError, match="'cells' must be a list"):
        validate_notebook_text(json.dumps(document), "job.ipynb")


def test_a_notebook_without_cells_is_refused():
    document = _notebook()
    del document["cells"]

    with pytest.raises(AtmoValidationError, match="'cells' must be a list"):
        validate_notebook_text(json.dumps(document), "job.ipynb")


def test_an_unknown_cell_type_is_refused_with_the_allowed_ones():
    document = _notebook(cells=[{"cell_type": "heading", "metadata": {}, "source": "x"}])

    with pytest.raises(AtmoValidationError, match="cell 0 has cell_type 'heading'; allowed"):
        validate_notebook_text(json.dumps(document), "job.ipynb")


def test_a_cell_source_must_be_text():
    document = _notebook(cells=[{"cell_type": "code", "metadata": {}, "source": 42}])

    with pytest.raises(AtmoValidationError, match="source of cell 0 must be a string"):
        validate_notebook_text(json.dumps(document), "job.ipynb")


def test_bytes_that_are_not_utf8_are_refused():
    with pytest.raises(AtmoValidationError, match="is not UTF-8 text"):
        validate_notebook_text(b"\xff\xfe\x00", "job.ipynb")
