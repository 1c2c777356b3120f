"""Checks of a Spark job's notebook file before it is uploaded and run.

A notebook must exist, be at most :data:`MAX_NOTEBOOK_BYTES` large, be named ``.ipynb`` (or
``.json``, as ATMO allowed) and hold nbformat 4 JSON with a list of cells. Every error names
the file and says what is allowed.
"""

from __future__ import annotations

import json
import os
from typing import Any

from atmo_provider.errors import AtmoValidationError

__all__ = [
    "ALLOWED_EXTENSIONS",
    "MAX_NOTEBOOK_BYTES",
    "validate_notebook",
    "validate_notebook_text",
]

#: The largest notebook accepted, in bytes.
MAX_NOTEBOOK_BYTES = 10 * 1024 * 1024

#: File name endings a notebook may have.
ALLOWED_EXTENSIONS = (".ipynb", ".json")

#: The cell types nbformat 4 knows.
CELL_TYPES = frozenset({"code", "markdown", "raw"})

FIELD = "notebook"


def _fail(path: str, problem: str) -> AtmoValidationError:
    return AtmoValidationError(FIELD, f"{path} {problem}")


def _check_cell(path: str, position: int, cell: Any) -> None:
    if not isinstance(cell, dict):
        raise _fail(path, f"is not a valid notebook: cell {position} is not a JSON object")

    cell_type = cell.get("cell_type")
    if cell_type not in CELL_TYPES:
        allowed = ", ".join(sorted(CELL_TYPES))
        raise _fail(
            path,
            f"is not a valid notebook: cell {position} has cell_type {cell_type!r}; "
            f"allowed are {allowed}",
        )

    source = cell.get("source")
    if not (
        isinstance(source, str)
        or (isinstance(source, list) and all(isinstance(line, str) for line in source))
    ):
        raise _fail(
            path,
            f"is not a valid notebook: the source of cell {position} must be a string or a "
            "list of strings",
        )


def validate_notebook_text(text: str | bytes, path: str) -> dict[str, Any]:
    """Check that ``text`` is an nbformat 4 notebook and return it parsed.

    :param text: the file's content.
    :param path: the file's name, for error messages.
    :raises AtmoValidationError: naming the file and the problem.
    """
    try:
        document = json.loads(text)
    except UnicodeDecodeError as exc:
        raise _fail(path, f"is not UTF-8 text: {exc}") from exc
    except ValueError as exc:
        raise _fail(path, f"is not valid JSON: {exc}") from exc

    if not isinstance(document, dict):
        raise _fail(path, "is not a notebook: expected a JSON object with 'nbformat' and 'cells'")

    version = document.get("nbformat")
    if version != 4:
        raise _fail(
            path, f"has nbformat {version!r}; only nbformat 4 notebooks (Jupyter 4+) are allowed"
        )

    cells = document.get("cells")
    if not isinstance(cells, list):
        raise _fail(path, "is not a valid notebook: 'cells' must be a list")
    if not isinstance(document.get("metadata", {}), dict):
        raise _fail(path, "is not a valid notebook: 'metadata' must be a JSON object")

    for position, cell in enumerate(cells):
        _check_cell(path, position, cell)
    return document


def validate_notebook(path: str | os.PathLike[str], max_bytes: int = MAX_NOTEBOOK_BYTES) -> dict:
    """Check the notebook file at ``path`` and return it parsed.

    :param path: the local notebook file.
    :param max_bytes: the largest size accepted, in bytes.
    :raises AtmoValidationError: when the file is missing, too large, wrongly named or not an
        nbformat 4 notebook with cells.
    """
    name = os.fspath(path)
    if not name.lower().endswith(ALLOWED_EXTENSIONS):
        allowed = " or ".join(ALLOWED_EXTENSIONS)
        raise _fail(name, f"must be a notebook file ending in {allowed}")
    if not os.path.isfile(name):
        raise _fail(name, "does not exist or is not a file")

    size = os.path.getsize(name)
    if size > max_bytes:
        raise _fail(name, f"is {size} bytes; notebooks may be at most {max_bytes} bytes")

    with open(name, "rb") as handle:
        return validate_notebook_text(handle.read(), name)
