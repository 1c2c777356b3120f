"""Keep the ATMO records true: EMR states, orphaned clusters, job specs, expiry and alerts.

Every five minutes, against the records of `[atmo] records_conn_id`:

* `sync_with_emr`: one paginated ListClusters updates the active clusters and unfinished Spark
  job runs, adopts live clusters of ours that have no record, and mails the owners of failed
  runs (once per run);
* `sync_with_specs`: every Spark job spec has a record, and jobs whose spec file is gone are
  retired;
* `expire_clusters`: clusters past their expiry are terminated, owners of clusters expiring
  within `[atmo] expiration_warning_minutes` are warned by mail (once per expiry).

The three tasks are independent, so one failing does not hold up the others; each is retried
with full-jitter delays. The DAG starts unpaused: clusters must expire without anyone's help.
See `atmo_provider.sync` for the rules.
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import CronTriggerTimetable, dag, task

from atmo_provider.retry_policy import FullJitterRetryPolicy

#: The jobs folder of the Spark job DAGs when `[atmo] jobs_folder` is empty.
DAGS_FOLDER = Path(__file__).parent


@dag(
    dag_id="atmo_sync",
    description="Sync ATMO records with EMR and the job specs; expire clusters; alert owners",
    schedule=CronTriggerTimetable("*/5 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    # Expiry must not wait for someone to unpause the DAG.
    is_paused_upon_creation=False,
    default_args={"retries": 3, "retry_policy": FullJitterRetryPolicy(base=10, cap=120)},
    dagrun_timeout=pendulum.duration(minutes=10),
    tags=["atmo", "maintenance"],
    doc_md=__doc__,
)
def atmo_sync():
    """Sync the records every five minutes."""

    @task(execution_timeout=pendulum.duration(minutes=4))
    def sync_with_emr() -> dict:
        """Update clusters and runs from EMR, adopt orphans, alert owners of failed runs."""
        from atmo_provider.provisioners import ClusterProvisioner, SparkJobProvisioner
        from atmo_provider.records.db import session_scope
        from atmo_provider.records.mixins import utcnow
        from atmo_provider.records.writes import records_engine
        from atmo_provider.settings import get_settings
        from atmo_provider.sync import sync_with_emr as sync

        settings = get_settings()
        clusters = ClusterProvisioner(settings)
        jobs = SparkJobProvisioner(settings, emr=clusters.emr)
        with session_scope(records_engine(settings)) as session:
            return sync(session, clusters, jobs, utcnow(), settings)

    @task(execution_timeout=pendulum.duration(minutes=4))
    def sync_with_specs() -> dict:
        """Record the Spark job specs and retire the jobs whose spec file is gone."""
        from atmo_provider.jobs.spec import default_jobs_folder
        from atmo_provider.records.db import session_scope
        from atmo_provider.records.mixins import utcnow
        from atmo_provider.records.writes import records_engine
        from atmo_provider.settings import get_settings
        from atmo_provider.sync import sync_with_specs as sync

        settings = get_settings()
        folder = default_jobs_folder(settings.jobs_folder, DAGS_FOLDER)
        with session_scope(records_engine(settings)) as session:
            return sync(session, folder, utcnow(), settings)

    @task(execution_timeout=pendulum.duration(minutes=4))
    def expire_clusters() -> dict:
        """Terminate expired clusters and warn the owners of clusters about to expire."""
        from atmo_provider.provisioners import ClusterProvisioner
        from atmo_provider.records.db import session_scope
        from atmo_provider.records.mixins import utcnow
        from atmo_provider.records.writes import records_engine
        from atmo_provider.settings import get_settings
        from atmo_provider.sync import expire_clusters as expire

        settings = get_settings()
        with session_scope(records_engine(settings)) as session:
            return expire(session, ClusterProvisioner(settings), utcnow(), settings)

    sync_with_emr()
    sync_with_specs()
    expire_clusters()


atmo_sync()
