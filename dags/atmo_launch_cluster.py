"""Launch a Spark cluster for yourself: trigger with the form, get an EMR cluster you can SSH to.

The trigger form's fields are Params with JSON schemas, so Airflow refuses a bad size, lifetime,
identifier or a missing key before the run exists. `validate_request` checks everything again
(the SSH key is parsed, the owner is the triggering user, an empty identifier becomes a free
random name) and applies the per-user limits (`[atmo] max_active_clusters_per_user`,
`max_total_size_per_user`; users in `limit_exempt_users` are exempt). `create_cluster` starts
the EMR cluster, `record_cluster` writes its record (the owner gets view, change and delete on
it; it expires `lifetime` hours from now), `wait_until_ready` defers until it is WAITING and
`record_ready` stores its state and master address.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, task

from atmo_provider.operators.cluster import AtmoCreateClusterOperator
from atmo_provider.retry_policy import FullJitterRetryPolicy
from atmo_provider.sensors.cluster import AtmoClusterReadySensor
from atmo_provider.settings import get_settings
from atmo_provider.validation.launch import launch_params

_settings = get_settings()

with DAG(
    dag_id="atmo_launch_cluster",
    description="Launch a self-serve Spark cluster on EMR",
    schedule=None,
    params=launch_params(_settings),
    default_args={"retries": 3, "retry_policy": FullJitterRetryPolicy()},
    tags=["atmo", "cluster"],
    doc_md=__doc__,
) as dag:

    @task(multiple_outputs=True)
    def validate_request(**context: Any) -> dict[str, Any]:
        """Check the launch params, pick a free identifier and apply the per-user limits."""
        from atmo_provider.records.db import session_scope
        from atmo_provider.records.writes import records_engine
        from atmo_provider.validation.launch import resolve_launch_request

        settings = get_settings()
        params = context["params"]
        with session_scope(records_engine(settings)) as session:
            request = resolve_launch_request(
                {name: params[name] for name in params},
                context["dag_run"].triggering_user_name,
                settings,
                session,
            )
        return request.as_dict()

    @task
    def record_cluster(request: dict[str, Any], jobflow_id: str, **context: Any) -> int:
        """Write the cluster's record before waiting for it; a retry finds it by job flow id."""
        from atmo_provider.records.db import session_scope
        from atmo_provider.records.writes import record_launched_cluster, records_engine

        settings = get_settings()
        ti = context["ti"]
        launch_tag = f"{ti.dag_id}/{ti.run_id}/create_cluster/-1"
        with session_scope(records_engine(settings)) as session:
            cluster = record_launched_cluster(
                session, request, jobflow_id, task_instance_key=launch_tag, settings=settings
            )
            return cluster.id

    @task
    def record_ready(description: dict[str, Any]) -> str:
        """Store the ready cluster's state, ready time and master address in its record."""
        from atmo_provider.records.db import session_scope
        from atmo_provider.records.writes import record_cluster_description, records_engine

        with session_scope(records_engine(get_settings())) as session:
            record_cluster_description(session, description)
        return description["state"]

    request = validate_request()
    create_cluster = AtmoCreateClusterOperator(
        task_id="create_cluster",
        identifier=request["identifier"],
        owner=request["owner"],
        owner_email=request["owner_email"],
        ssh_public_key=request["ssh_public_key"],
        size=request["size"],
        lifetime=request["lifetime"],
        emr_release=request["emr_release"],
    )
    recorded = record_cluster(request, create_cluster.output)
    wait_until_ready = AtmoClusterReadySensor(
        task_id="wait_until_ready", job_flow_id=create_cluster.output, deferrable=True
    )
    recorded >> wait_until_ready
    record_ready(wait_until_ready.output)
