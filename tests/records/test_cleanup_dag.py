"""The daily atmo_cleanup_permissions DAG."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select

from atmo_provider.records.db import engine_from_url, session_scope
from atmo_provider.records.migrate import migrate_engine
from atmo_provider.records.models import Cluster, ObjectPermission
from atmo_provider.retry_policy import FullJitterRetryPolicy
from tests.conftest import ROOT

DAG_FILE = ROOT / "dags" / "atmo_cleanup_permissions.py"


@pytest.fixture(scope="module")
def cleanup_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    return bag.dags["atmo_cleanup_permissions"]


def test_dag_runs_daily_at_half_past_three_utc_without_catchup(cleanup_dag):
    assert cleanup_dag.schedule == "30 3 * * *"
    assert cleanup_dag.timezone.name == "UTC"
    assert cleanup_dag.catchup is False


def test_task_retries_with_full_jitter(cleanup_dag):
    task = cleanup_dag.get_task("cleanup_permissions")

    assert task.retries == 3
    assert isinstance(task.retry_policy, FullJitterRetryPolicy)


def test_doc_points_to_airflows_own_permissions_cleanup(cleanup_dag):
    assert "airflow permissions-cleanup" in cleanup_dag.doc_md


def test_dag_run_removes_orphaned_permissions(airflow_db, cleanup_dag, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'atmo.db'}"
    monkeypatch.setenv("AIRFLOW_CONN_ATMO_DEFAULT", url)
    engine = engine_from_url(url)
    migrate_engine(engine)
    with session_scope(engine) as session:
        kept = Cluster(identifier="kept", created_by="alice", emr_release="6.15.0").save(session)
        gone = Cluster(identifier="gone", created_by="alice", emr_release="6.15.0").save(session)
    with session_scope(engine) as session:
        session.execute(delete(Cluster).where(Cluster.id == gone.id))

    run = cleanup_dag.test()

    assert run.get_task_instance("cleanup_permissions").state == "success"
    with session_scope(engine) as session:
        left = set(session.scalars(select(ObjectPermission.object_id)))
    assert left == {kept.id}


def test_dag_run_fails_at_once_on_an_unmigrated_database(
    airflow_db, cleanup_dag, tmp_path, monkeypatch
):
    monkeypatch.setenv("AIRFLOW_CONN_ATMO_DEFAULT", f"sqlite:///{tmp_path / 'empty.db'}")

    run = cleanup_dag.test()

    task_instance = run.get_task_instance("cleanup_permissions")
    assert (task_instance.state, task_instance.try_number) == ("failed", 1)
