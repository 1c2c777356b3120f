"""cleanup_permissions: permissions of deleted records go, nothing else."""

from __future__ import annotations

from sqlalchemy import delete, select

from atmo_provider.records.cleanup import cleanup_permissions
from atmo_provider.records.db import session_scope
from atmo_provider.records.models import Cluster, ObjectPermission, SparkJob
from atmo_provider.records.permissions import grant


def _all_grants(engine) -> set[tuple]:
    with session_scope(engine) as session:
        rows = session.scalars(select(ObjectPermission))
        return {
            (row.object_type, row.object_id, row.permission, row.username, row.role)
            for row in rows
        }


def _delete_rows_only(engine, model, object_id: int) -> None:
    # As a hand-written DELETE would: the permissions stay behind.
    with session_scope(engine) as session:
        session.execute(delete(model).where(model.id == object_id))


def test_cleanup_removes_exactly_the_orphaned_permissions(records_engine, make_cluster, make_job):
    kept_cluster, gone_cluster = make_cluster(), make_cluster()
    kept_job, gone_job = make_job(), make_job()
    with session_scope(records_engine) as session:
        grant(session, "view", Cluster, role="Admin")
    before = _all_grants(records_engine)
    _delete_rows_only(records_engine, Cluster, gone_cluster.id)
    _delete_rows_only(records_engine, SparkJob, gone_job.id)

    with session_scope(records_engine) as session:
        removed = cleanup_permissions(session)

    assert removed == {"clusters": 3, "spark_job_runs": 0, "spark_jobs": 4}
    assert _all_grants(records_engine) == {
        grant_ for grant_ in before if grant_[1] not in (gone_cluster.id, gone_job.id)
    } | {grant_ for grant_ in before if grant_[1] is None}
    assert {row[1] for row in _all_grants(records_engine)} == {
        kept_cluster.id,
        kept_job.id,
        None,
    }


def test_cleanup_a_second_time_removes_nothing(records_engine, make_cluster):
    gone = make_cluster()
    make_cluster()
    _delete_rows_only(records_engine, Cluster, gone.id)
    with session_scope(records_engine) as session:
        cleanup_permissions(session)
    before = _all_grants(records_engine)

    with session_scope(records_engine) as session:
        removed = cleanup_permissions(session)

    assert set(removed.values()) == {0}
    assert _all_grants(records_engine) == before


def test_cleanup_keeps_permissions_on_unknown_kinds(records_engine):
    with session_scope(records_engine) as session:
        session.add(
            ObjectPermission(object_type="ssh_keys", object_id=1, permission="view", role="Ops")
        )

    with session_scope(records_engine) as session:
        cleanup_permissions(session)

    assert _all_grants(records_engine) == {("ssh_keys", 1, "view", None, "Ops")}
