"""The FastAPI app of the ATMO tab, mounted by Airflow's API server at ``/atmo``.

Routes: ``/`` the dashboard, ``/clusters/{id}`` (and ``/extend``, ``/terminate``),
``/jobs/{id}`` (and ``/run``, ``/pause``, ``/resume``, ``/delete``), ``/static/...`` the CSS
and JavaScript. Every route but the static files needs a logged-in Airflow user.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from atmo_provider import __version__
from atmo_provider.plugin.deps import PluginState, _default_provisioner
from atmo_provider.plugin.errors import install_error_handlers
from atmo_provider.plugin.routes_clusters import router as clusters_router
from atmo_provider.plugin.routes_dashboard import router as dashboard_router
from atmo_provider.plugin.routes_jobs import router as jobs_router
from atmo_provider.plugin.templating import STATIC_DIR

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from atmo_provider.plugin.csrf import CsrfProtection
    from atmo_provider.plugin.dags import AirflowDags
    from atmo_provider.settings import AtmoSettings

__all__ = ["create_app", "get_app"]


def create_app(
    *,
    settings: AtmoSettings | None = None,
    engine: Engine | None = None,
    dags: AirflowDags | None = None,
    csrf: CsrfProtection | None = None,
    provisioner_factory: Callable[[AtmoSettings], Any] | None = None,
) -> FastAPI:
    """Build the tab's app; what is not given is resolved on first use in the API server.

    :param settings: the provider's settings; read from ``[atmo]`` when not given.
    :param engine: the records database; the ``records_conn_id`` connection's when not given.
    :param dags: access to Airflow's DAGs; Airflow's metadata database when not given.
    :param csrf: the form protection; keyed with Airflow's API secret when not given.
    :param provisioner_factory: builds the cluster provisioner that terminates clusters.
    """
    app = FastAPI(
        title="ATMO",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.atmo = PluginState(
        settings=settings,
        engine=engine,
        dags=dags,
        csrf=csrf,
        provisioner_factory=provisioner_factory or _default_provisioner,
    )

    install_error_handlers(app)
    app.include_router(dashboard_router)
    app.include_router(clusters_router)
    app.include_router(jobs_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


@cache
def get_app() -> FastAPI:
    """Return this process's app, built on first use (the plugin's ``fastapi_apps`` entry)."""
    return create_app()
