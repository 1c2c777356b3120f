"""Engines from Airflow connections, SQLite settings and session transactions."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text

from atmo_provider.errors import AtmoConfigurationError
from atmo_provider.records.db import (
    database_url,
    default_sqlite_path,
    engine_from_url,
    get_engine,
    session_scope,
)
from atmo_provider.records.models import Cluster


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    return tmp_path


def test_sqlite_uri_with_an_absolute_path(monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_CONN_ATMO_T1", f"sqlite:///{tmp_path}/records/atmo.db")

    url = database_url("atmo_t1")

    assert (url.drivername, url.database) == ("sqlite", f"{tmp_path}/records/atmo.db")


def test_sqlite_uri_with_a_relative_path_is_under_airflow_home(monkeypatch, home):
    monkeypatch.setenv("AIRFLOW_CONN_ATMO_T2", "sqlite:///records.db")

    assert database_url("atmo_t2").database == str(home / "records.db")


def test_sqlite_json_connection_with_the_path_in_host(monkeypatch, tmp_path):
    connection = {"conn_type": "sqlite", "host": f"{tmp_path}/atmo.db"}
    monkeypatch.setenv("AIRFLOW_CONN_ATMO_T3", json.dumps(connection))

    assert database_url("atmo_t3").database == f"{tmp_path}/atmo.db"


def test_postgres_uri_keeps_credentials_and_extra(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_ATMO_T4",
        "postgresql://atmo:s%40cret@db.internal:5433/records?sslmode=require",
    )

    url = database_url("atmo_t4")

    assert url.drivername == "postgresql+psycopg"
    assert (url.username, url.password, url.host, url.port) == (
        "atmo",
        "s@cret",
        "db.internal",
        5433,
    )
    assert (url.database, dict(url.query)) == ("records", {"sslmode": "require"})


def test_missing_connection_means_atmo_db_under_airflow_home(home):
    url = database_url("atmo_not_defined_anywhere")

    assert url.database == str(home / "atmo.db") == str(default_sqlite_path())


def test_other_connection_types_are_refused_with_the_allowed_ones(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_ATMO_T5", "mysql://u:p@host/db")

    with pytest.raises(AtmoConfigurationError, match="sqlite, postgres"):
        database_url("atmo_t5")


def test_in_memory_sqlite_is_refused(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_ATMO_T6", json.dumps({"conn_type": "sqlite", "host": ":memory:"})
    )

    with pytest.raises(AtmoConfigurationError, match="file path"):
        database_url("atmo_t6")


def test_engines_are_cached_per_url(monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_CONN_ATMO_T7", f"sqlite:///{tmp_path}/a.db")

    assert get_engine("atmo_t7") is get_engine("atmo_t7")
    assert get_engine("atmo_t7") is not engine_from_url(f"sqlite:///{tmp_path}/b.db")


def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout(tmp_path):
    engine = engine_from_url(f"sqlite:///{tmp_path}/pragmas.db")

    with engine.connect() as connection:
        pragmas = {
            name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "foreign_keys", "busy_timeout")
        }

    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 30000}


def test_no_table_exists_before_migrating(tmp_path):
    engine = engine_from_url(f"sqlite:///{tmp_path}/empty.db")

    with engine.connect() as connection:
        tables = connection.execute(text("SELECT name FROM sqlite_master")).scalars().all()

    assert tables == []


def test_session_scope_commits_on_success(records_engine):
    with session_scope(records_engine) as session:
        session.add(Cluster(identifier="kept", created_by="alice", emr_release="6.15.0"))

    with session_scope(records_engine) as session:
        assert session.scalars(select(Cluster.identifier)).all() == ["kept"]


def test_session_scope_rolls_back_on_error(records_engine):
    with pytest.raises(KeyError), session_scope(records_engine) as session:
        session.add(Cluster(identifier="lost", created_by="alice", emr_release="6.15.0"))
        session.flush()
        raise KeyError("boom")

    with session_scope(records_engine) as session:
        assert session.scalars(select(Cluster)).all() == []
