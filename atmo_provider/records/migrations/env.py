"""Alembic environment of the records database.

:func:`atmo_provider.records.migrate.migrate` hands over an open connection in
``config.attributes["connection"]``; without one, the engine of the Airflow connection named by
the ``atmo_conn_id`` option (default ``atmo_default``) is used.
"""

from __future__ import annotations

from alembic import context

from atmo_provider.records.db import DEFAULT_CONN_ID, get_engine
from atmo_provider.records.migrate import VERSION_TABLE
from atmo_provider.records.models import Base

config = context.config


def _configure(**kwargs) -> None:
    context.configure(
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        render_as_batch=True,
        compare_type=True,
        **kwargs,
    )


def run_migrations_offline() -> None:
    """Write the SQL of the migrations for the URL given as ``sqlalchemy.url``."""
    _configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on the given connection, or on the Airflow connection's database."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return

    engine = get_engine(config.get_main_option("atmo_conn_id") or DEFAULT_CONN_ID)
    with engine.begin() as connection:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
