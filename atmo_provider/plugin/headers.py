"""Response headers of the ATMO tab: the modification date pages poll for, and safety headers.

A page puts the newest ``modified_at`` of what it shows in its context as ``modified_date``;
:func:`modified_date_headers` turns it into ``X-ATMO-Modified-Date: 2017-03-14T10:48:53+00:00``.
The page's script sends a HEAD request to the same URL now and then and tells the user to
reload when the header moved.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "MODIFIED_DATE_CONTEXT_KEY",
    "MODIFIED_DATE_HEADER",
    "SECURITY_HEADERS",
    "format_modified_date",
    "modified_date_headers",
    "newest",
]

#: The response header carrying the modification date.
MODIFIED_DATE_HEADER = "X-ATMO-Modified-Date"

#: The context variable a page sets to the newest modification date of what it shows.
MODIFIED_DATE_CONTEXT_KEY = "modified_date"

#: Sent with every page: scripts and styles from the app only, framed by Airflow's UI only.
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def format_modified_date(value: datetime) -> str:
    """Return ``value`` in ISO 8601 with its UTC offset, to the second.

    A naive value is taken to be in UTC.

    :param value: the modification date.
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat(timespec="seconds")


def newest(values: Iterable[datetime | None]) -> datetime | None:
    """Return the latest of ``values``, ignoring ``None``; ``None`` when there is none.

    :param values: modification dates, some possibly missing.
    """
    present = [value for value in values if value is not None]
    return max(present) if present else None


def modified_date_headers(
    context: Mapping[str, Any], key: str = MODIFIED_DATE_CONTEXT_KEY
) -> dict[str, str]:
    """Return the modification date header for a page's context; empty without a date.

    :param context: the template context of the page.
    :param key: the context variable holding the date.
    """
    value = context.get(key)
    if value is None:
        return {}
    return {MODIFIED_DATE_HEADER: format_modified_date(value)}
