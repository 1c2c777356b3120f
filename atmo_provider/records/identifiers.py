"""Free values for fields such as a cluster's identifier: ``foo``, then ``foo-2``, ``foo-3``..."""

from __future__ import annotations

import logging
import re
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

__all__ = ["next_field_value"]

log = logging.getLogger(__name__)


def _escape_like(value: str, escape: str = "\\") -> str:
    return value.replace(escape, escape * 2).replace("%", f"{escape}%").replace("_", f"{escape}_")


def _candidate(base: str, number: int, separator: str, max_length: int) -> str:
    end = f"{separator}{number}"
    if max_length:
        if len(end) >= max_length:
            raise ValueError(
                f"max_length {max_length} leaves no room for a value ending in {end!r}"
            )
        base = base[: max_length - len(end)]
        # A cut in the middle of "a-b" must not leave "a--2".
        while base.endswith(separator) and len(base) > len(separator):
            base = base[: -len(separator)]
    return f"{base}{end}"


def next_field_value(
    model_cls: type,
    field_name: str,
    field_value: str,
    start: int = 2,
    separator: str = "-",
    max_length: int = 0,
    queryset: Select | None = None,
    *,
    session: Session,
) -> str:
    """Return ``field_value`` if no ``model_cls`` row has it, else the next free counted value.

    A trailing counter is dropped first, so ``foo-7`` gives ``foo-2`` if that is free, then
    ``foo-3`` and so on. With ``max_length``, the base is shortened so that each counted value
    fits. Existing values sharing the prefix are fetched at once (one query; one more each
    time shortening changes the prefix).

    Limitation: two writers may pick the same value unless the read and the insert share one
    transaction that serializes writers (SQLite, see :mod:`atmo_provider.records.db`) or the
    column is unique.

    :param model_cls: the record model, e.g. ``Cluster``.
    :param field_name: the column, e.g. ``identifier``.
    :param field_value: the wanted value.
    :param start: the first counter to try.
    :param separator: what stands between the base and the counter.
    :param max_length: the longest allowed counted value; 0 for no limit.
    :param queryset: a ``select(model_cls).where(...)`` to look for clashes in; all rows when
        not given.
    :param session: an open session.
    """
    if not separator:
        raise ValueError("separator must not be empty")
    column = getattr(model_cls, field_name)
    query = select(model_cls) if queryset is None else queryset
    query = query.with_only_columns(column)

    match = re.fullmatch(rf"(.+?){re.escape(separator)}[0-9]+", field_value)
    base = match.group(1) if match else field_value

    number = start
    candidate = _candidate(base, number, separator, max_length)
    prefix = candidate[: len(candidate) - len(str(number))]
    taken = _values(session, query, column, prefix, exact=field_value)
    if field_value not in taken:
        return field_value

    while candidate in taken:
        number += 1
        candidate = _candidate(base, number, separator, max_length)
        if not candidate.startswith(prefix):
            prefix = candidate[: len(candidate) - len(str(number))]
            taken = _values(session, query, column, prefix)

    log.info("%s %r is taken; using %r", field_name, field_value, candidate)
    return candidate


def _values(
    session: Session, query: Select, column: Any, prefix: str, exact: str | None = None
) -> set[str]:
    condition = column.like(f"{_escape_like(prefix)}%", escape="\\")
    if exact is not None:
        condition = or_(column == exact, condition)
    return set(session.scalars(query.where(condition)))
