"""The provider's own records: clusters, Spark jobs and their runs, and who may see them.

Airflow 3 keeps task code away from its metadata database, so these live in a database of our
own named by the Airflow connection ``atmo_default`` (SQLite under ``AIRFLOW_HOME`` by default,
PostgreSQL in production). Typical use in a task::

    from atmo_provider.records import Cluster, get_engine, session_scope

    with session_scope(get_engine()) as session:
        cluster = Cluster(identifier="foo", created_by="alice", created_by_email="a@b.c",
                          emr_release="6.15.0", size=1, lifetime=8)
        cluster.save(session)  # alice gets view, change and delete on it

Modules: :mod:`.db` (engines and sessions), :mod:`.models`, :mod:`.mixins`,
:mod:`.permissions` (grants and checks), :mod:`.identifiers` (``next_field_value``),
:mod:`.cleanup` (orphaned permissions), :mod:`.migrate` (schema migrations).
Importing this package creates no table and opens no database.
"""

from __future__ import annotations

from atmo_provider.records.db import DEFAULT_CONN_ID, get_engine, session_scope
from atmo_provider.records.models import (
    Cluster,
    ObjectPermission,
    SparkJob,
    SparkJobRun,
    created_clusters,
    created_spark_job_runs,
    created_spark_jobs,
)

__all__ = [
    "DEFAULT_CONN_ID",
    "Cluster",
    "ObjectPermission",
    "SparkJob",
    "SparkJobRun",
    "created_clusters",
    "created_spark_job_runs",
    "created_spark_jobs",
    "get_engine",
    "session_scope",
]
