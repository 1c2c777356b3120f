"""Paths of the ATMO tab's pages, built from the records' route table.

Clusters and Spark jobs know the paths of their own actions (``url_for_action``). The tab has
three job actions the records' table does not name (pause, resume, delete); :data:`ROUTES`
adds them, and :func:`action_url` builds every path from one table so that the routes the app
serves and the links its pages show cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

from atmo_provider.records.models import ROUTES as RECORD_ROUTES

__all__ = ["ROUTES", "action_url", "route_path"]

#: Route name -> path template below the app's mount point: the records' routes and the tab's.
ROUTES: Mapping[str, str] = MappingProxyType(
    {
        **RECORD_ROUTES,
        "jobs-pause": "/jobs/{id}/pause",
        "jobs-resume": "/jobs/{id}/resume",
        "jobs-delete": "/jobs/{id}/delete",
    }
)


def route_path(name: str) -> str:
    """Return the path template of the route ``name``, e.g. ``/clusters/{id}/extend``.

    :param name: a route name such as ``clusters-extend``.
    """
    try:
        return ROUTES[name]
    except KeyError:
        raise ValueError(f"no route named {name!r}; routes: {', '.join(sorted(ROUTES))}") from None


def action_url(obj: Any, action: str, base: str = "") -> str:
    """Return the path of ``action`` on the record ``obj`` below ``base``.

    The record builds the path itself when the action is one of its ``url_actions``.

    :param obj: a cluster or Spark job.
    :param action: e.g. ``detail``, ``extend``, ``pause``.
    :param base: where the app is mounted, e.g. ``/atmo``; ``""`` for a path inside the app.
    """
    if action in getattr(obj, "url_actions", ()):
        return obj.url_for_action(action, base=base)

    template = route_path(f"{obj.url_prefix}{obj.url_delimiter}{action}")
    value = quote(str(getattr(obj, obj.url_field_name)), safe="")
    return base.rstrip("/") + template.format(**{obj.url_kwarg_name: value})
