"""Helpers of the integration tests of ATMO's AWS operators: DAG registration and EMR looks."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from atmo_provider.provisioners import TASK_INSTANCE_TAG

#: Seconds between two looks in tests; the embedded AWS moves clusters on in fractions of one.
POLL = 0.2


def register_dag(dag: Any) -> None:
    """Write a DAG defined in a test to Airflow's database, as the DAG processor would.

    ``dag.test()`` runs only DAGs with a serialized version in the database; DAGs defined in a
    test function are in no bundle the processor parses.
    """
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.collection import update_dag_parsing_results_in_db
    from airflow.serialization.serialized_objects import LazyDeserializedDAG
    from airflow.utils.session import create_session

    with create_session() as session:
        DagBundlesManager().sync_bundles_to_db(session=session)
        session.flush()
        update_dag_parsing_results_in_db(
            "dags-folder",
            None,
            [LazyDeserializedDAG.from_dag(dag)],
            {},
            None,
            set(),
            session=session,
        )


def run_dag(dag: Any) -> Any:
    """Register ``dag`` and run it once with ``dag.test()``; return the DAG run."""
    register_dag(dag)
    return dag.test()


def task_states(run: Any) -> dict[str, str]:
    """Return ``{task_id: state}`` of a DAG run."""
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def clusters_tagged(emr: Any, tag_value: str) -> list[dict[str, Any]]:
    """Describe every cluster whose task-instance tag is ``tag_value``."""
    found = []
    for page in emr.get_paginator("list_clusters").paginate():
        for summary in page["Clusters"]:
            cluster = emr.describe_cluster(ClusterId=summary["Id"])["Cluster"]
            tags = {tag["Key"]: tag["Value"] for tag in cluster.get("Tags", [])}
            if tags.get(TASK_INSTANCE_TAG) == tag_value:
                found.append(cluster)
    return found


def clusters_named(emr: Any, name: str) -> list[dict[str, Any]]:
    """Return the ListClusters summaries of every cluster called ``name``."""
    return [
        summary
        for page in emr.get_paginator("list_clusters").paginate()
        for summary in page["Clusters"]
        if summary["Name"] == name
    ]


def wait_for_state(
    emr: Any, jobflow_id: str, states: set[str], timeout: float = 20.0
) -> dict[str, Any]:
    """Describe ``jobflow_id`` until it is in one of ``states``; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        cluster = emr.describe_cluster(ClusterId=jobflow_id)["Cluster"]
        if cluster["Status"]["State"] in states:
            return cluster
        if time.monotonic() > deadline:
            raise AssertionError(
                f"cluster {jobflow_id} is {cluster['Status']['State']}, not in {sorted(states)}"
            )
        time.sleep(0.1)


def state_of(emr: Any, jobflow_id: str) -> str:
    """Return the current state of ``jobflow_id``."""
    return emr.describe_cluster(ClusterId=jobflow_id)["Cluster"]["Status"]["State"]


def fail_after_first_call(target: Any, name: str, error: BaseException) -> Callable[..., Any]:
    """Make ``target.name`` do its work, then raise ``error`` the first time only.

    Simulates an answer lost after AWS applied the call (a timeout after RunJobFlow created the
    cluster). Returns the original method.
    """
    original = getattr(target, name)
    calls = {"n": 0}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 1:
            raise error
        return result

    setattr(target, name, wrapper)
    return original


class RecordingTaskInstance:
    """The parts of a task instance ATMO's operators use, keeping XComs in a dictionary.

    For tests that call ``execute`` directly, as a worker would, with the same identity on
    every call (a retried try has the same dag, run, task and map index).
    """

    def __init__(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> None:
        self.dag_id = dag_id
        self.run_id = run_id
        self.task_id = task_id
        self.map_index = map_index
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        """Keep ``value`` under ``key``."""
        self.xcoms[key] = value

    def xcom_pull(self, key: str = "return_value", **_: Any) -> Any:
        """Return what was pushed under ``key`` by this task instance."""
        return self.xcoms.get(key)


def task_context(
    dag_id: str,
    task_id: str,
    *,
    run_id: str = "manual__test",
    clear_number: int = 0,
    logical_date: Any = None,
) -> dict[str, Any]:
    """Return a context for calling an operator's ``execute`` outside a DAG run."""
    from datetime import datetime, timezone
    from types import SimpleNamespace

    now = datetime.now(timezone.utc)
    dag_run = SimpleNamespace(
        dag_id=dag_id,
        run_id=run_id,
        start_date=now,
        logical_date=logical_date or now,
        run_after=now,
        clear_number=clear_number,
    )
    return {"ti": RecordingTaskInstance(dag_id, run_id, task_id), "dag_run": dag_run}


def run_in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn(*args)`` in a thread, as a worker runs a task; the future gives its error.

    The future's result is the exception ``fn`` raised, or its return value.
    """
    from concurrent.futures import ThreadPoolExecutor

    def call() -> Any:
        try:
            return fn(*args)
        except BaseException as exc:
            return exc

    executor = ThreadPoolExecutor(max_workers=1)
    future = executor.submit(call)
    executor.shutdown(wait=False)
    return future


def wait_for_link(context: dict[str, Any], timeout: float = 20.0) -> str:
    """Wait until the task of ``context`` recorded its cluster; return the job flow id."""
    deadline = time.monotonic() + timeout
    while True:
        recorded = context["ti"].xcoms.get("atmo_emr_cluster")
        if recorded:
            return recorded["job_flow_id"]
        if time.monotonic() > deadline:
            raise AssertionError("the task recorded no cluster")
        time.sleep(0.05)
