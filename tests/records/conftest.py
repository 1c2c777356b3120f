"""Fixtures of the records tests: a migrated database on SQLite and on PostgreSQL."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone

import pytest
from sqlalchemy.engine import Engine

from atmo_provider.records.db import dispose_engines, get_engine, session_scope
from atmo_provider.records.migrate import migrate
from atmo_provider.records.models import Cluster, SparkJob
from atmo_provider.settings import AtmoSettings
from tests.fixtures.postgres import postgres_server, postgres_url  # noqa: F401

_conn_ids = itertools.count()


@pytest.fixture(autouse=True)
def _close_engines() -> Iterator[None]:
    """Close the engines a test opened, so that no file or server connection stays open."""
    yield
    dispose_engines()


@pytest.fixture(params=["sqlite", "postgresql"])
def records_engine(request, tmp_path, monkeypatch) -> Iterator[Engine]:
    """A records database migrated with the Alembic revisions, reached through a connection."""
    conn_id = f"atmo_records_test_{next(_conn_ids)}"
    database = None
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'atmo.db'}"
    else:
        server = request.getfixturevalue("postgres_server")
        database = f"atmo_{uuid.uuid4().hex[:12]}"
        server.create_database(database)
        uri = (
            f"postgresql://{server.user}:{server.password}@{server.host}:{server.port}/{database}"
        )
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", uri)

    migrate(conn_id)
    yield get_engine(conn_id)

    dispose_engines()
    if database is not None:
        _drop_database(request.getfixturevalue("postgres_server"), database)


def _drop_database(server, database: str) -> None:
    import psycopg

    dsn = f"host={server.host} port={server.port} user={server.user} password={server.password}"
    with psycopg.connect(f"{dsn} dbname=postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture
def settings() -> AtmoSettings:
    """Default settings: the maintainers role is "Spark job maintainers"."""
    return AtmoSettings()


@pytest.fixture
def make_cluster(records_engine: Engine) -> Callable[..., Cluster]:
    """Save a cluster (with its creator's permissions) in its own transaction; return it."""

    def make(created_by: str = "alice", **fields) -> Cluster:
        values = {
            "identifier": "foo",
            "created_by_email": f"{created_by}@example.com",
            "emr_release": "6.15.0",
            "size": 1,
            "lifetime": 8,
        }
        values.update(fields)
        with session_scope(records_engine) as session:
            return Cluster(created_by=created_by, **values).save(session)

    return make


@pytest.fixture
def make_job(records_engine: Engine, settings: AtmoSettings) -> Callable[..., SparkJob]:
    """Save a Spark job (with its permissions) in its own transaction; return it."""
    names = itertools.count(1)

    def make(created_by: str = "alice", **fields) -> SparkJob:
        values = {
            "identifier": f"job-{next(names)}",
            "created_by_email": f"{created_by}@example.com",
            "description": "counts things",
            "notebook_uri": "s3://atmo-code/jobs/x/x.ipynb",
            "start_date": datetime(2024, 1, 1, tzinfo=timezone.utc),
        }
        values.update(fields)
        with session_scope(records_engine) as session:
            return SparkJob(created_by=created_by, **values).save(session, settings=settings)

    return make
