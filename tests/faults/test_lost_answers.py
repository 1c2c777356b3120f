"""RunJobFlow applied by EMR but its answer lost on the wire: the launch finds its cluster."""

from __future__ import annotations

import pytest

from atmo_provider.embedded.fault_proxy import WireRule
from tests.integration.helpers_aws import clusters_tagged, run_dag, task_states
from tests.integration.test_cluster_dags import _cluster_dag

pytestmark = pytest.mark.integration


def _xcom(run, task_id: str):
    [ti] = [ti for ti in run.get_task_instances() if ti.task_id == task_id]
    return ti.xcom_pull(task_ids=task_id)


def test_a_dropped_runjobflow_answer_leaves_one_cluster(
    airflow_db, clean_embedded_aws, fault_proxy, short_sleeps
):
    fault_proxy.set_rules([WireRule("RunJobFlow", "drop_after_apply", times=1)])

    run = run_dag(_cluster_dag("atmo_fault_dropped_once", "dropped-1"))

    assert run.state == "success", task_states(run)
    assert fault_proxy.counts("drop_after_apply") == {"emr": {"RunJobFlow": 1}}
    assert clean_embedded_aws.control.call_counts()["emr"]["RunJobFlow"] == 1
    emr = clean_embedded_aws.client("emr")
    [cluster] = clusters_tagged(emr, f"atmo_fault_dropped_once/{run.run_id}/create/-1")
    assert cluster["Id"] == _xcom(run, "create")


def test_every_runjobflow_answer_dropped_still_leaves_one_cluster(
    airflow_db, clean_embedded_aws, fault_proxy, short_sleeps
):
    fault_proxy.set_rules([WireRule("RunJobFlow", "drop_after_apply")])

    run = run_dag(_cluster_dag("atmo_fault_dropped_always", "dropped-2"))

    assert run.state == "success", task_states(run)
    assert clean_embedded_aws.control.call_counts()["emr"]["RunJobFlow"] == 1
    emr = clean_embedded_aws.client("emr")
    assert len(clusters_tagged(emr, f"atmo_fault_dropped_always/{run.run_id}/create/-1")) == 1


def test_a_dropped_answer_on_a_task_retry_reuses_the_first_tries_cluster(
    airflow_db, clean_embedded_aws, fault_proxy, short_sleeps, monkeypatch
):
    from atmo_provider.operators import cluster as cluster_operators

    original = cluster_operators.persist_cluster_link
    tries = []

    def worker_lost_on_first_try(context, *args, **kwargs):
        if context["ti"].task_id == "create":
            tries.append(args[0])
            if len(tries) == 1:
                raise RuntimeError("worker lost after RunJobFlow")
        return original(context, *args, **kwargs)

    monkeypatch.setattr(cluster_operators, "persist_cluster_link", worker_lost_on_first_try)
    fault_proxy.set_rules([WireRule("RunJobFlow", "drop_after_apply", times=1)])

    run = run_dag(_cluster_dag("atmo_fault_dropped_retry", "dropped-3", retries=1))

    assert run.state == "success", task_states(run)
    assert len(tries) == 2 and tries[0] == tries[1]
    assert clean_embedded_aws.control.call_counts()["emr"]["RunJobFlow"] == 1
    emr = clean_embedded_aws.client("emr")
    assert len(clusters_tagged(emr, f"atmo_fault_dropped_retry/{run.run_id}/create/-1")) == 1
