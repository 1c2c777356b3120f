"""The ATMO tab in Airflow's UI: a dashboard of clusters and Spark jobs, details and actions.

:class:`AtmoPlugin` mounts the FastAPI app of :mod:`atmo_provider.plugin.app` at ``/atmo`` in
the API server and adds an "ATMO" entry to the navigation that shows it in an iframe. A role
sees the entry with ``can_read`` on ``Plugins``. The app is built when the API server asks for
it, so other Airflow components that load plugins do not import the web stack.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

__all__ = ["URL_PREFIX", "AtmoPlugin"]

#: Where the API server mounts the tab's app.
URL_PREFIX = "/atmo"


class AtmoPlugin(AirflowPlugin):
    """Airflow plugin of the ATMO tab."""

    name = "atmo"

    #: The navigation entry, at the top level of the navigation whatever other plugins exist.
    #: The trailing slash of ``href`` matters: ``/atmo`` is a route of the UI itself.
    external_views = [
        {
            "name": "ATMO",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "url_route": "atmo",
            "nav_top_level": True,
            "icon": f"{URL_PREFIX}/static/atmo-icon.svg",
        }
    ]

    @property
    def fastapi_apps(self) -> list[dict[str, Any]]:  # type: ignore[override]
        """The tab's app, built on first access."""
        from atmo_provider.plugin.app import get_app

        return [{"app": get_app(), "url_prefix": URL_PREFIX, "name": "ATMO"}]
