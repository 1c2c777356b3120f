"""Fixtures of the ATMO tab's tests: the app mounted at ``/atmo``, a records database in a
temporary folder, logins, seeded records and Spark job DAGs in Airflow's test database.

Users are resolved by overriding :func:`atmo_provider.plugin.auth.airflow_user` with a FAB
user object (and the auth manager's plugin access check with "allowed"), except in
``test_auth.py``, which runs Airflow's real token and access checks.
"""

from __future__ import annotations

import itertools
import re
import textwrap
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from atmo_provider.plugin.app import create_app
from atmo_provider.plugin.auth import airflow_user, tab_access
from atmo_provider.plugin.csrf import CsrfProtection
from atmo_provider.records.db import dispose_engines, engine_from_url, session_scope
from atmo_provider.records.migrate import migrate_engine
from atmo_provider.records.models import Cluster, SparkJob, SparkJobRun
from atmo_provider.settings import AtmoSettings

MAINTAINERS = "Spark job maintainers"

_TOKEN_RE = re.compile(r'<meta name="atmo-csrf-token" content="([^"]+)">')
_identifiers = itertools.count(1)


def fab_user(username: str, *roles: str) -> Any:
    """Return a FAB user object, as Airflow's ``get_user`` would under the FAB auth manager."""
    from airflow.providers.fab.auth_manager.models import Role, User

    return User(
        username=username,
        first_name=username.capitalize(),
        last_name="Tester",
        email=f"{username}@example.com",
        roles=[Role(name=role) for role in roles],
    )


def csrf_token(client: TestClient, path: str) -> str:
    """Open ``path`` like a browser and return the CSRF token of its forms (and cookie)."""
    response = client.get(path)
    assert response.status_code == 200, response.text
    match = _TOKEN_RE.search(response.text)
    assert match, f"no form token on {path}"
    return match.group(1)


@pytest.fixture(autouse=True)
def _close_engines() -> Iterator[None]:
    yield
    dispose_engines()


@pytest.fixture
def records(tmp_path: Path) -> Engine:
    """A records database in SQLite, migrated with the records' own migrations."""
    engine = engine_from_url(f"sqlite:///{tmp_path / 'atmo.db'}")
    migrate_engine(engine)
    return engine


@pytest.fixture
def settings() -> AtmoSettings:
    """Production-like settings: no "Here be dragons" banner unless a test asks for it."""
    return AtmoSettings(environment="prod", site_url="https://atmo.example.org")


@pytest.fixture
def app(records: Engine, settings: AtmoSettings, airflow_db) -> FastAPI:
    """The tab's app on the test records database and Airflow's test database."""
    return create_app(settings=settings, engine=records, csrf=CsrfProtection("test-secret"))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A browser-like client of the app mounted at ``/atmo`` like in the API server."""
    parent = FastAPI()
    parent.mount("/atmo", app)
    with TestClient(parent, raise_server_exceptions=False, follow_redirects=False) as client:
        yield client


@pytest.fixture
def login(app: FastAPI) -> Callable[..., None]:
    """Log in as ``username`` with ``roles``: ``login("alice", "User")``."""

    def log_in(username: str, *roles: str) -> None:
        user = fab_user(username, *roles)
        app.dependency_overrides[airflow_user] = lambda: user
        app.dependency_overrides[tab_access] = lambda: None

    return log_in


class Seed:
    """Saves records the way tasks do, creator permissions included."""

    def __init__(self, engine: Engine, settings: AtmoSettings) -> None:
        self.engine = engine
        self.settings = settings

    def cluster(self, owner: str = "alice", **fields: Any) -> Cluster:
        values = {
            "identifier": f"cluster-{next(_identifiers)}",
            "created_by_email": f"{owner}@example.com",
            "emr_release": "6.15.0",
            "size": 1,
            "lifetime": 8,
            "most_recent_status": "WAITING",
        }
        values.update(fields)
        with session_scope(self.engine) as session:
            return Cluster(created_by=owner, **values).save(session)

    def job(self, owner: str = "alice", **fields: Any) -> SparkJob:
        values = {
            "identifier": f"job-{next(_identifiers)}",
            "created_by_email": f"{owner}@example.com",
            "description": "Counts the things.",
            "notebook_uri": "s3://atmo-code/jobs/x/x.ipynb",
            "start_date": datetime(2024, 1, 1, tzinfo=timezone.utc),
        }
        values.update(fields)
        with session_scope(self.engine) as session:
            return SparkJob(created_by=owner, **values).save(session, settings=self.settings)

    def run(self, job: SparkJob, **fields: Any) -> SparkJobRun:
        values = {"status": "TERMINATED", "jobflow_id": f"j-RUN{next(_identifiers)}"}
        values.update(fields)
        with session_scope(self.engine) as session:
            run = SparkJobRun(spark_job_id=job.id, **values)
            session.add(run)
            session.flush()
            return run

    def get(self, model: type, record_id: int) -> Any:
        with session_scope(self.engine) as session:
            return session.get(model, record_id)


@pytest.fixture
def seed(records: Engine, settings: AtmoSettings) -> Seed:
    """Save clusters, Spark jobs and runs in the test records database."""
    return Seed(records, settings)


_JOB_DAG = """
import datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG(
    dag_id="{dag_id}",
    schedule=datetime.timedelta(days=7),
    start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    catchup=False,
):
    EmptyOperator(task_id="run_notebook")
"""


@pytest.fixture
def job_dag(tmp_path: Path, airflow_db) -> Callable[[str], str]:
    """Put the DAG ``atmo_job_<identifier>`` in Airflow's test database; return its id."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.utils.session import create_session

    folder = tmp_path / "job-dags"
    folder.mkdir()

    def make(identifier: str) -> str:
        dag_id = f"atmo_job_{identifier}"
        path = folder / f"{dag_id}.py"
        path.write_text(textwrap.dedent(_JOB_DAG.format(dag_id=dag_id)))
        with create_session() as session:
            DagBundlesManager().sync_bundles_to_db(session=session)
        bag = DagBag(dag_folder=str(path))
        assert dag_id in bag.dags, bag.import_errors
        with create_session() as session:
            sync_bag_to_db(bag, "dags-folder", None, session=session)
        return dag_id

    return make
