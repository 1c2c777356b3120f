"""The provider's own database: engines built from an Airflow connection, and short sessions.

Airflow 3 keeps task and trigger code away from its metadata database, so the records tasks
write (clusters, Spark jobs, their runs, object permissions) live in a database of our own,
named by an Airflow connection (default ``atmo_default``):

* SQLite, the embedded default: ``AIRFLOW_CONN_ATMO_DEFAULT='sqlite:////abs/path/atmo.db'``
  (four slashes for an absolute path; Airflow puts the path in the connection's ``schema``),
  ``sqlite:///atmo.db`` (relative to ``AIRFLOW_HOME``), or the JSON form
  ``{"conn_type": "sqlite", "host": "/abs/path/atmo.db"}`` (the path in ``host``).
* PostgreSQL in production: ``postgresql://user:password@host:5432/dbname?sslmode=require``
  (Airflow stores ``conn_type`` ``postgres``; the extra becomes query parameters of the
  driver). The driver is psycopg 3 when installed, psycopg2 otherwise.

Without such a connection the records live in ``$AIRFLOW_HOME/atmo.db``. Nothing here creates
tables; :func:`atmo_provider.records.migrate.migrate` does.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.orm import Session

from atmo_provider.errors import AtmoConfigurationError

__all__ = [
    "DEFAULT_CONN_ID",
    "SQLITE_BUSY_TIMEOUT_MS",
    "database_url",
    "default_sqlite_path",
    "dispose_engines",
    "engine_from_url",
    "get_engine",
    "session_scope",
]

log = logging.getLogger(__name__)

#: The Airflow connection naming the records database.
DEFAULT_CONN_ID = "atmo_default"

#: How long an SQLite writer waits for another one to finish before giving up, in milliseconds.
SQLITE_BUSY_TIMEOUT_MS = 30_000

#: The connection types this module turns into a database URL.
SUPPORTED_CONN_TYPES = ("sqlite", "postgres", "postgresql")

# Engines of this process, keyed by (pid, URL): a forked child builds its own.
_engines: dict[tuple[int, str], Engine] = {}


def _airflow_home() -> Path:
    return Path(os.environ.get("AIRFLOW_HOME") or Path("~/airflow").expanduser()).expanduser()


def default_sqlite_path() -> Path:
    """Return the SQLite file used when the connection is missing: ``$AIRFLOW_HOME/atmo.db``."""
    return _airflow_home() / "atmo.db"


def _sqlite_url(host: str | None, schema: str | None) -> URL:
    if host and schema:
        raw = f"{host}/{schema}"
    else:
        raw = host or schema or str(default_sqlite_path())
    if raw == ":memory:":
        raise AtmoConfigurationError(
            "an in-memory SQLite database cannot hold records shared between tasks; "
            "give the connection a file path such as sqlite:////abs/path/atmo.db"
        )

    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = _airflow_home() / path
    return URL.create("sqlite", database=str(path))


def _postgres_driver() -> str:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "postgresql+psycopg2"
    return "postgresql+psycopg"


def _postgres_url(conn: Any) -> URL:
    extra = conn.extra_dejson if conn.extra else {}
    query = {str(key): str(value) for key, value in extra.items() if value is not None}
    return URL.create(
        _postgres_driver(),
        username=conn.login or None,
        password=conn.password or None,
        host=conn.host or None,
        port=conn.port or None,
        database=conn.schema or None,
        query=query,
    )


def database_url(conn_id: str = DEFAULT_CONN_ID) -> URL:
    """Return the SQLAlchemy URL of the records database named by an Airflow connection.

    A missing connection means the default SQLite file, ``$AIRFLOW_HOME/atmo.db``.

    :param conn_id: the Airflow connection id.
    """
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        path = default_sqlite_path()
        log.info("Connection %s is not defined; using the SQLite file %s", conn_id, path)
        return URL.create("sqlite", database=str(path))

    conn_type = (conn.conn_type or "").lower()
    if conn_type == "sqlite":
        return _sqlite_url(conn.host, conn.schema)
    if conn_type in ("postgres", "postgresql"):
        return _postgres_url(conn)
    raise AtmoConfigurationError(
        f"connection {conn_id} has type {conn.conn_type!r}; the records database must be "
        f"one of: {', '.join(SUPPORTED_CONN_TYPES)}"
    )


def _on_sqlite_connect(dbapi_connection: Any, _connection_record: Any) -> None:
    # The driver's own transaction handling is turned off so that every transaction starts
    # with the BEGIN IMMEDIATE below instead of a deferred BEGIN issued behind our back.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _on_sqlite_begin(connection: Any) -> None:
    # A writer takes the write lock when its transaction starts, waiting up to busy_timeout.
    # A deferred transaction that read first could fail at once with "database is locked"
    # when it tries to write after another process committed.
    # Limitation: readers queue behind writers too; transactions are kept short for that.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _build_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        if url.database:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, pool_pre_ping=True
        )
        event.listen(engine, "connect", _on_sqlite_connect)
        event.listen(engine, "begin", _on_sqlite_begin)
        return engine

    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def engine_from_url(url: str | URL) -> Engine:
    """Return this process's engine for ``url``, building it on first use.

    :param url: a SQLAlchemy URL, e.g. ``sqlite:////abs/path/atmo.db``.
    """
    url = make_url(url)
    key = (os.getpid(), url.render_as_string(hide_password=False))
    engine = _engines.get(key)
    if engine is None:
        engine = _engines[key] = _build_engine(url)
        log.info("Opened the records database %s", url.render_as_string(hide_password=True))
    return engine


def get_engine(conn_id: str = DEFAULT_CONN_ID) -> Engine:
    """Return the engine of the records database named by the Airflow connection ``conn_id``.

    :param conn_id: the Airflow connection id; see the module docstring for its forms.
    """
    return engine_from_url(database_url(conn_id))


def dispose_engines() -> None:
    """Close every engine this process built; the next :func:`get_engine` builds a new one."""
    for key in list(_engines):
        engine = _engines.pop(key)
        if key[0] == os.getpid():
            engine.dispose()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """Open a session for one short transaction: commit on success, roll back on error.

    Objects stay readable after the block (``expire_on_commit=False``) but are detached.

    :param engine: the engine from :func:`get_engine`.
    """
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
