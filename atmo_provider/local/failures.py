"""Find the cell that failed in a notebook executed by papermill and say what went wrong."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CellFailure", "find_failed_cell"]

#: Tags of the cells papermill adds to the executed notebook: the injected parameters and the
#: red banner pointing at the failed cell. They are not counted, so that a cell's index is its
#: index in the notebook the user wrote.
_PAPERMILL_TAGS = frozenset({"injected-parameters", "papermill-error-cell-tag"})

#: How many characters of a cell's first line a reason quotes.
_FIRST_LINE_LIMIT = 80


@dataclass(frozen=True)
class CellFailure:
    """A cell of the user's notebook that raised an error.

    :param index: the cell's position in the notebook as written, counting every cell
        (markdown too) from 0.
    :param first_line: the first non-blank line of the cell's source, shortened.
    :param ename: the error's class name, e.g. ``ZeroDivisionError``.
    :param evalue: the error's message.
    """

    index: int
    first_line: str
    ename: str
    evalue: str

    def describe(self) -> str:
        """Return a sentence for the task log and the run's reason."""
        return (
            f"cell {self.index} ({self.first_line!r}) raised {self.ename}: {self.evalue}"
            if self.evalue
            else f"cell {self.index} ({self.first_line!r}) raised {self.ename}"
        )


def _tags(cell: dict) -> set[str]:
    return set((cell.get("metadata") or {}).get("tags") or [])


def _source(cell: dict) -> str:
    source = cell.get("source") or ""
    return "".join(source) if isinstance(source, list) else str(source)


def _first_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip():
            line = line.strip()
            if len(line) > _FIRST_LINE_LIMIT:
                return line[: _FIRST_LINE_LIMIT - 3] + "..."
            return line
    return ""


def find_failed_cell(executed_notebook: Path) -> CellFailure | None:
    """Return the first cell of ``executed_notebook`` with an error output, or ``None``.

    ``None`` also when the file is missing or unreadable: papermill may have died before it
    wrote the notebook.

    :param executed_notebook: the notebook papermill wrote.
    """
    try:
        document = json.loads(executed_notebook.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None

    index = -1
    for cell in document.get("cells") or []:
        if _tags(cell) & _PAPERMILL_TAGS:
            continue
        index += 1
        for output in cell.get("outputs") or []:
            if output.get("output_type") == "error":
                return CellFailure(
                    index=index,
                    first_line=_first_line(_source(cell)),
                    ename=str(output.get("ename") or "Error"),
                    evalue=str(output.get("evalue") or ""),
                )
    return None
