"""Latency and SQL queries of the ATMO tab's pages with 10,000 clusters and 1,000 Spark jobs.

Two records databases (SQLite files) are seeded the way tasks write records, creator
permissions included: a large one (10,000 clusters, 1,000 jobs with 5 runs each; smoke: 2,000
and 200) and a small one (100 clusters, 10 jobs; the peer column, so the ratio is how the page
scales with the row count). One user owns a tenth of all rows. The tab's app is mounted at
``/atmo`` under FastAPI's TestClient with the user resolution overridden, as the plugin tests
do, so Airflow's token validation is not included. Requests alternate between the two
databases; each request's records queries are counted with a ``before_cursor_execute`` event
(SQLite's ``BEGIN IMMEDIATE`` and other transaction control statements not counted).

Left out: Airflow's metadata database (the DAG states come from an in-memory stand-in with
the same interface, so its two queries per page are not timed) and S3 (the job page's result
listing is replaced by "not available").

# Limitation: SQLite only; PostgreSQL, which production uses, is not measured here.
"""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from benchmarks import main, median, p95, row

__all__ = ["run", "seed"]

NAME = "dashboard"

#: (clusters, jobs) of the large database by size; the small one has 100 and 10.
LARGE = {"smoke": (2000, 200), "full": (10000, 1000)}
SMALL = (100, 10)

#: Runs per job.
RUNS_PER_JOB = 5

#: Requests per route and database, by size.
REQUESTS = {"smoke": 30, "full": 200}

#: Targets.
P95_MS = 150.0
MAX_QUERIES = 5

USER = "alice"
MAINTAINER = "morgan"


class StaticDags:
    """Stands in for Airflow's DAG table: every job's DAG exists, unpaused, nothing running."""

    def infos(self, dag_ids: Iterable[str]) -> dict[str, Any]:
        """Return a DAG state for each id."""
        from atmo_provider.plugin.dags import DagInfo

        return {dag_id: DagInfo(dag_id=dag_id, is_paused=False) for dag_id in set(dag_ids)}

    def info(self, dag_id: str) -> Any:
        """Return the DAG state of ``dag_id``."""
        return self.infos([dag_id])[dag_id]


def seed(path: Path, clusters: int, jobs: int) -> tuple[Any, dict[str, int]]:
    """Create and fill a records database at ``path``; return its engine and sample ids.

    :param path: the SQLite file to create.
    :param clusters: how many clusters.
    :param jobs: how many Spark jobs (each with :data:`RUNS_PER_JOB` runs).
    """
    from atmo_provider.records.db import engine_from_url, session_scope
    from atmo_provider.records.migrate import migrate_engine
    from atmo_provider.records.models import Cluster, SparkJob, SparkJobRun
    from atmo_provider.settings import AtmoSettings

    settings = AtmoSettings(environment="prod")
    # One log line per permission granted would cost more than the inserts.
    logging.getLogger("atmo_provider").setLevel(logging.WARNING)
    engine = engine_from_url(f"sqlite:///{path}")
    migrate_engine(engine)
    statuses = ("WAITING", "RUNNING", "TERMINATED", "TERMINATED_WITH_ERRORS", "BOOTSTRAPPING")
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    ids = {}
    with session_scope(engine) as session:
        for index in range(clusters):
            owner = USER if index % 10 == 0 else f"user{index % 97}"
            cluster = Cluster(
                created_by=owner,
                identifier=f"cluster-{index}",
                created_by_email=f"{owner}@example.com",
                emr_release="6.15.0",
                size=1 + index % 5,
                lifetime=8,
                most_recent_status=statuses[index % len(statuses)],
                jobflow_id=f"j-C{index:08d}",
            ).save(session)
            if owner == USER:
                ids["cluster"] = cluster.id
        for index in range(jobs):
            owner = USER if index % 10 == 0 else f"user{index % 97}"
            job = SparkJob(
                created_by=owner,
                identifier=f"job-{index}",
                created_by_email=f"{owner}@example.com",
                description="Counts the things.",
                notebook_uri=f"s3://atmo-code/jobs/job-{index}/job.ipynb",
                start_date=start + timedelta(hours=index),
            ).save(session, settings=settings)
            for number in range(RUNS_PER_JOB):
                session.add(
                    SparkJobRun(
                        spark_job_id=job.id,
                        status="TERMINATED" if number % 4 else "TERMINATED_WITH_ERRORS",
                        jobflow_id=f"j-R{index:06d}{number}",
                    )
                )
            if owner == USER:
                ids["job"] = job.id
    return engine, ids


def _client(engine: Any, username: str, roles: tuple[str, ...]) -> Any:
    from airflow.providers.fab.auth_manager.models import Role, User
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from atmo_provider.plugin.app import create_app
    from atmo_provider.plugin.auth import airflow_user, tab_access
    from atmo_provider.plugin.csrf import CsrfProtection
    from atmo_provider.settings import AtmoSettings

    settings = AtmoSettings(environment="prod", site_url="https://atmo.example.org")
    app = create_app(
        settings=settings, engine=engine, dags=StaticDags(), csrf=CsrfProtection("bench-secret")
    )
    user = User(
        username=username,
        first_name=username.capitalize(),
        last_name="Bench",
        email=f"{username}@example.com",
        roles=[Role(name=role) for role in roles],
    )
    app.dependency_overrides[airflow_user] = lambda: user
    app.dependency_overrides[tab_access] = lambda: None
    parent = FastAPI()
    parent.mount("/atmo", app)
    return TestClient(parent, raise_server_exceptions=True, follow_redirects=False)


#: Statements that only delimit transactions (SQLite's ``BEGIN IMMEDIATE`` goes through the
#: cursor; PostgreSQL's implicit ``BEGIN`` does not): not counted as queries.
_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA")


class QueryCounter:
    """Counts the queries an engine sends to its database (transaction control left out)."""

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.lstrip().upper().startswith(_TRANSACTION_CONTROL):
            self.count += 1


def run(size: str) -> list[dict]:
    """Seed the databases, time each route for a user and a maintainer; return the rows.

    :param size: ``smoke`` or ``full``.
    """
    import atmo_provider.plugin.routes_jobs as routes_jobs
    from atmo_provider.records.db import dispose_engines
    from atmo_provider.settings import AtmoSettings

    maintainer_role = AtmoSettings().maintainer_role
    root = Path(tempfile.mkdtemp(prefix="atmo-bench-dashboard-"))
    # The job page lists each finished run's results in S3; S3 is not part of this benchmark.
    routes_jobs._result_files = lambda identifier, links, settings: [None] * len(links)
    try:
        clusters, jobs = LARGE[size]
        start = time.monotonic()
        large, large_ids = seed(root / "large.db", clusters, jobs)
        small, small_ids = seed(root / "small.db", *SMALL)
        seeded = time.monotonic() - start
        counters = {"large": QueryCounter(large), "small": QueryCounter(small)}
        users = {"user": (USER, ("User",)), "maintainer": (MAINTAINER, ("User", maintainer_role))}
        rows = []
        for who, (username, roles) in users.items():
            clients = {
                "large": _client(large, username, roles),
                "small": _client(small, username, roles),
            }
            routes = {"dashboard": "/atmo/", "job detail": "/atmo/jobs/{job}"}
            if who == "user":
                routes["cluster detail"] = "/atmo/clusters/{cluster}"
            else:
                routes["dashboard"] = "/atmo/?jobs=all"
            for route, template in routes.items():
                ids = {"large": large_ids, "small": small_ids}
                paths = {name: template.format(**ids[name]) for name in ids}
                # Same path shape in both databases: the sample ids differ, so measure each
                # client on its own ids, interleaved.
                times, queries = _measure_pair(clients, counters, paths, REQUESTS[size])
                p95_large = p95(times["large"])
                most = max(queries["large"] + queries["small"])
                rows.append(
                    row(
                        NAME,
                        f"{route} ({who}) p95 ms, {clusters} clusters/{jobs} jobs "
                        f"(peer: {SMALL[0]}/{SMALL[1]})",
                        p95_large,
                        p95(times["small"]),
                        f"p95 < {P95_MS:g} ms, <= {MAX_QUERIES} queries",
                        p95_large < P95_MS and most <= MAX_QUERIES,
                        f"median {median(times['large']):.1f} ms (small DB "
                        f"{median(times['small']):.1f}); queries per request (no BEGIN): large "
                        f"{sorted(set(queries['large']))}, small {sorted(set(queries['small']))};"
                        f" {REQUESTS[size]} requests each, SQLite, in-process TestClient",
                    )
                )
            for client in clients.values():
                client.close()
        rows[0]["notes"] += f"; seeding took {seeded:.0f} s"
        return rows
    finally:
        dispose_engines()
        shutil.rmtree(root, ignore_errors=True)


def _measure_pair(
    clients: dict[str, Any], counters: dict[str, QueryCounter], paths: dict[str, str], n: int
) -> tuple[dict[str, list[float]], dict[str, list[int]]]:
    times: dict[str, list[float]] = {name: [] for name in clients}
    queries: dict[str, list[int]] = {name: [] for name in clients}
    for name, client in clients.items():  # warm-up: templates compiled, caches filled
        response = client.get(paths[name])
        if response.status_code != 200:
            raise RuntimeError(f"GET {paths[name]} on the {name} DB: {response.status_code}")
    for index in range(n):
        order = list(clients) if index % 2 == 0 else list(reversed(list(clients)))
        for name in order:
            before = counters[name].count
            start = time.perf_counter()
            response = clients[name].get(paths[name])
            times[name].append((time.perf_counter() - start) * 1000)
            queries[name].append(counters[name].count - before)
            if response.status_code != 200:
                raise RuntimeError(f"GET {paths[name]} on the {name} DB: {response.status_code}")
    return times, queries


if __name__ == "__main__":
    sys.exit(main(run))
