"""Delete the ATMO object permissions whose cluster or Spark job no longer exists.

Runs daily at 03:30 UTC against the records database of the `atmo_default` connection. Records
deleted through the provider take their permissions with them; this catches the rest. Running
it twice deletes nothing the second time.

Stale permissions of Airflow's own resources (DAGs that were removed) belong to Airflow and
its FAB auth manager, not to this DAG: clean them with `airflow permissions-cleanup`.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from atmo_provider.retry_policy import FullJitterRetryPolicy

#: The Airflow connection of the records database.
RECORDS_CONN_ID = "atmo_default"


@dag(
    dag_id="atmo_cleanup_permissions",
    description="Delete ATMO object permissions of deleted clusters and Spark jobs",
    schedule="30 3 * * *",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["atmo", "maintenance"],
    doc_md=__doc__,
)
def atmo_cleanup_permissions():
    """Delete permissions of records that are gone."""

    @task(retries=3, retry_policy=FullJitterRetryPolicy())
    def cleanup_permissions() -> dict[str, int]:
        """Delete the orphaned permissions; return how many went, per kind of object."""
        from atmo_provider.errors import AtmoConfigurationError
        from atmo_provider.records.cleanup import cleanup_permissions as cleanup
        from atmo_provider.records.db import get_engine, session_scope
        from atmo_provider.records.migrate import current_revision, head_revision

        engine = get_engine(RECORDS_CONN_ID)
        current, head = current_revision(engine), head_revision()
        if current != head:
            raise AtmoConfigurationError(
                f"the records database of connection {RECORDS_CONN_ID} is at revision "
                f"{current}, not {head}; run `airflow atmo db migrate` first"
            )

        with session_scope(engine) as session:
            return cleanup(session)

    cleanup_permissions()


atmo_cleanup_permissions()
