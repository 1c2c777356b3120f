"""``airflow atmo db ...``: create and upgrade the tables of the provider's own records."""

from __future__ import annotations

import argparse

from airflow.utils.providers_configuration_loader import providers_configuration_loaded

__all__ = ["db_migrate"]


@providers_configuration_loaded
def db_migrate(args: argparse.Namespace) -> None:
    """Upgrade the records database behind ``[atmo] records_conn_id`` to the newest revision."""
    from atmo_provider.records.db import database_url
    from atmo_provider.records.migrate import migrate
    from atmo_provider.settings import get_settings

    conn_id = args.conn_id or get_settings().records_conn_id
    url = database_url(conn_id)

    revision = migrate(conn_id)
    print(f"ATMO records at {url.render_as_string(hide_password=True)} are at revision {revision}")
