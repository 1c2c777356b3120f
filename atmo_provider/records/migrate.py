"""Schema migrations of the records database, run from Python (no ``alembic.ini`` needed).

``migrate()`` upgrades the database of the ``atmo_default`` connection to the newest revision;
running it again changes nothing. The version is kept in the table ``atmo_alembic_version`` so
that the database may be shared with other Alembic users.
"""

from __future__ import annotations

import logging
import zlib
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from atmo_provider.records.db import DEFAULT_CONN_ID, get_engine

__all__ = [
    "MIGRATIONS_DIR",
    "VERSION_TABLE",
    "alembic_config",
    "current_revision",
    "head_revision",
    "migrate",
    "migrate_engine",
]

log = logging.getLogger(__name__)

#: The folder of the Alembic environment and its revisions.
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: The table holding the revision the database is at.
VERSION_TABLE = "atmo_alembic_version"

# Key of the PostgreSQL advisory lock that keeps two migrations from running at once.
_LOCK_KEY = zlib.crc32(b"atmo_provider.records.migrate")


def alembic_config(connection: Connection | None = None):
    """Return an Alembic ``Config`` for the records' migrations.

    :param connection: an open connection the migrations run on.
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """Return the newest revision of the migrations."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the migrations folder has no revision"
    return head


def _current(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def current_revision(engine: Engine) -> str | None:
    """Return the revision the database is at; None before the first migration.

    :param engine: the records engine.
    """
    with engine.connect() as connection:
        return _current(connection)


def migrate_engine(engine: Engine, revision: str = "head") -> str | None:
    """Upgrade the database of ``engine`` to ``revision``; return the revision it ends at.

    :param engine: the records engine.
    :param revision: the target revision, the newest by default.
    """
    from alembic import command

    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})

        before = _current(connection)
        command.upgrade(alembic_config(connection), revision)
        after = _current(connection)

    url = engine.url.render_as_string(hide_password=True)
    if before == after:
        log.info("The records database %s is at revision %s already", url, after)
    else:
        log.info("Migrated the records database %s from %s to %s", url, before, after)
    return after


def migrate(conn_id: str = DEFAULT_CONN_ID, revision: str = "head") -> str | None:
    """Upgrade the records database of an Airflow connection; return the revision it ends at.

    :param conn_id: the Airflow connection of the records database.
    :param revision: the target revision, the newest by default.
    """
    return migrate_engine(get_engine(conn_id), revision)
