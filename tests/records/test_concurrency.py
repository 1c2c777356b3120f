"""Concurrent writers on the SQLite records database wait for each other instead of failing."""

from __future__ import annotations

import multiprocessing
import threading

import pytest
from sqlalchemy import func, select

from atmo_provider.records.db import engine_from_url, session_scope
from atmo_provider.records.identifiers import next_field_value
from atmo_provider.records.migrate import migrate_engine
from atmo_provider.records.models import Cluster, ObjectPermission

WRITES_PER_WRITER = 25


def launch_clusters(url: str, owner: str, count: int) -> None:
    """Save ``count`` clusters named ``foo``, ``foo-2``... the way the launch task would."""
    engine = engine_from_url(url)
    for _ in range(count):
        with session_scope(engine) as session:
            identifier = next_field_value(Cluster, "identifier", "foo", session=session)
            Cluster(identifier=identifier, created_by=owner, emr_release="6.15.0").save(session)
    engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'atmo.db'}"
    migrate_engine(engine_from_url(url))
    return url


def _outcome(url: str) -> tuple[int, int, int]:
    with session_scope(engine_from_url(url)) as session:
        clusters = session.scalar(select(func.count(Cluster.id)))
        identifiers = session.scalar(select(func.count(func.distinct(Cluster.identifier))))
        grants = session.scalar(select(func.count(ObjectPermission.id)))
    return clusters, identifiers, grants


def test_two_processes_writing_at_once_all_succeed_with_distinct_identifiers(sqlite_url):
    context = multiprocessing.get_context("spawn")
    writers = [
        context.Process(target=launch_clusters, args=(sqlite_url, owner, WRITES_PER_WRITER))
        for owner in ("alice", "bob")
    ]

    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=120)

    assert [writer.exitcode for writer in writers] == [0, 0]
    total = 2 * WRITES_PER_WRITER
    assert _outcome(sqlite_url) == (total, total, 3 * total)


def test_two_threads_writing_at_once_all_succeed_with_distinct_identifiers(sqlite_url):
    errors: list[BaseException] = []

    def write(owner: str) -> None:
        try:
            launch_clusters(sqlite_url, owner, WRITES_PER_WRITER)
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(owner,)) for owner in ("alice", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    total = 2 * WRITES_PER_WRITER
    assert _outcome(sqlite_url) == (total, total, 3 * total)
