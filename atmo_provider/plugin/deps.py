"""What the tab's routes need, kept on the app: settings, the records engine, Airflow's DAGs.

:func:`~atmo_provider.plugin.app.create_app` stores a :class:`PluginState` in
``app.state.atmo``. Whatever it was not given is resolved on first use, in the API server:
settings from the ``[atmo]`` section, the records engine from the ``records_conn_id``
connection, the CSRF secret from Airflow's configuration.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Request

from atmo_provider.plugin.csrf import CsrfProtection
from atmo_provider.plugin.dags import AirflowDags

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from atmo_provider.settings import AtmoSettings

__all__ = [
    "PluginState",
    "airflow_dags",
    "cluster_provisioner",
    "csrf_protection",
    "plugin_settings",
    "plugin_state",
    "records_engine",
]

log = logging.getLogger(__name__)


def _default_provisioner(settings: AtmoSettings) -> Any:
    from atmo_provider.provisioners import ClusterProvisioner

    return ClusterProvisioner(settings)


@dataclass
class PluginState:
    """The app's collaborators; ``None`` means "resolve on first use".

    :param settings: the provider's settings.
    :param engine: the records database.
    :param dags: Airflow's DAGs as the tab uses them.
    :param csrf: issues and checks form tokens.
    :param provisioner_factory: builds the cluster provisioner from the settings.
    """

    settings: AtmoSettings | None = None
    engine: Engine | None = None
    dags: AirflowDags | None = None
    csrf: CsrfProtection | None = None
    provisioner_factory: Callable[[AtmoSettings], Any] = _default_provisioner


def plugin_state(request: Request) -> PluginState:
    """Return the state of the app answering ``request``."""
    return request.app.state.atmo


def plugin_settings(request: Request) -> AtmoSettings:
    """Return the provider's settings, read from Airflow's configuration once."""
    state = plugin_state(request)
    if state.settings is None:
        from atmo_provider.settings import get_settings

        state.settings = get_settings()
    return state.settings


def records_engine(request: Request) -> Engine:
    """Return the engine of the records database of the ``records_conn_id`` connection."""
    state = plugin_state(request)
    if state.engine is None:
        from atmo_provider.records.db import get_engine

        state.engine = get_engine(plugin_settings(request).records_conn_id)
    return state.engine


def airflow_dags(request: Request) -> AirflowDags:
    """Return the access to Airflow's DAGs (the API server's metadata database)."""
    state = plugin_state(request)
    if state.dags is None:
        state.dags = AirflowDags()
    return state.dags


def _csrf_secret() -> str:
    from airflow.configuration import conf

    for section, key in (("api", "secret_key"), ("api_auth", "jwt_secret")):
        value = conf.get(section, key, fallback="")
        if value:
            return value

    # Limitation: without a configured secret each API server worker signs with its own key,
    # so a form rendered by one worker is refused by another; set [api] secret_key.
    log.warning(
        "Neither [api] secret_key nor [api_auth] jwt_secret is set; forms use a key "
        "of this process only"
    )
    return secrets.token_urlsafe(32)


def csrf_protection(request: Request) -> CsrfProtection:
    """Return the CSRF protection, keyed with Airflow's API secret."""
    state = plugin_state(request)
    if state.csrf is None:
        state.csrf = CsrfProtection(_csrf_secret())
    return state.csrf


def cluster_provisioner(request: Request) -> Any:
    """Return a :class:`~atmo_provider.provisioners.ClusterProvisioner` for the settings."""
    state = plugin_state(request)
    return state.provisioner_factory(plugin_settings(request))
