"""Who may do what at the ATMO tab: every page and action against every kind of user.

Alice owns an active cluster (a real one in the embedded AWS) and a Spark job with its DAG.
The users: nobody logged in, alice herself, bob (another user), maria (a Spark job maintainer)
and root (Airflow role Admin). Object permissions are granted per user and per role only: the
creator gets view, change and delete, the maintainers' role gets view on every Spark job, and
nothing is granted to Admin. So an Airflow Admin is, at the tab, a user like bob: alice's
cluster and job answer 404 to them, exactly like a missing object. A maintainer may view the
job and run it now, and nothing else of alice's.

Every POST carries a valid CSRF token of the user making it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from atmo_provider.records.models import Cluster, SparkJob
from tests.plugin.conftest import MAINTAINERS, csrf_token

#: The users, by the part they play: username and Airflow roles; None is nobody logged in.
ACTORS: dict[str, tuple[str, ...] | None] = {
    "anonymous": None,
    "owner": ("alice", "User"),
    "other": ("bob", "User"),
    "maintainer": ("maria", "User", MAINTAINERS),
    "admin": ("root", "Admin"),
}

#: Request per action: method and path template ({cluster} and {job} are record ids).
ACTIONS: dict[str, tuple[str, str]] = {
    "dashboard": ("GET", "/atmo/"),
    "dashboard-head": ("HEAD", "/atmo/"),
    "dashboard-all": ("GET", "/atmo/?clusters=all&jobs=all"),
    "cluster-detail": ("GET", "/atmo/clusters/{cluster}"),
    "cluster-detail-head": ("HEAD", "/atmo/clusters/{cluster}"),
    "cluster-extend": ("POST", "/atmo/clusters/{cluster}/extend"),
    "cluster-terminate": ("POST", "/atmo/clusters/{cluster}/terminate"),
    "job-detail": ("GET", "/atmo/jobs/{job}"),
    "job-detail-head": ("HEAD", "/atmo/jobs/{job}"),
    "job-run": ("POST", "/atmo/jobs/{job}/run"),
    "job-pause": ("POST", "/atmo/jobs/{job}/pause"),
    "job-resume": ("POST", "/atmo/jobs/{job}/resume"),
    "job-delete": ("POST", "/atmo/jobs/{job}/delete"),
}

# fmt: off
#: The expected status of every cell: action -> (anonymous, owner, other, maintainer, admin).
MATRIX: dict[str, tuple[int, int, int, int, int]] = {
    "dashboard":           (401, 200, 200, 200, 200),
    "dashboard-head":      (401, 200, 200, 200, 200),
    "dashboard-all":       (401, 200, 200, 200, 200),
    "cluster-detail":      (401, 200, 404, 404, 404),
    "cluster-detail-head": (401, 200, 404, 404, 404),
    "cluster-extend":      (401, 303, 404, 404, 404),
    "cluster-terminate":   (401, 303, 404, 404, 404),
    "job-detail":          (401, 200, 404, 200, 404),
    "job-detail-head":     (401, 200, 404, 200, 404),
    "job-run":             (401, 303, 404, 303, 404),
    "job-pause":           (401, 303, 404, 404, 404),
    "job-resume":          (401, 303, 404, 404, 404),
    "job-delete":          (401, 303, 404, 404, 404),
}
# fmt: on

#: What each user's pages may show of alice's: (cluster, job) for each GET page.
SHOWN: dict[str, dict[str, tuple[bool, bool]]] = {
    "dashboard": {
        "owner": (True, True),
        "other": (False, False),
        "maintainer": (False, False),
        "admin": (False, False),
    },
    "dashboard-all": {
        "owner": (True, True),
        "other": (False, False),
        "maintainer": (False, True),
        "admin": (False, False),
    },
}

CELLS = [
    pytest.param(action, actor, status, id=f"{action}-{actor}")
    for action, statuses in MATRIX.items()
    for actor, status in zip(ACTORS, statuses, strict=True)
]


@dataclass
class World:
    """Alice's objects and how to look at them after a request."""

    cluster: Cluster
    job: SparkJob
    dag_id: str
    jobflow_id: str
    seed: Any
    aws: Any

    def cluster_now(self) -> Cluster:
        return self.seed.get(Cluster, self.cluster.id)

    def job_now(self) -> SparkJob:
        return self.seed.get(SparkJob, self.job.id)


def dag_is_paused(dag_id: str) -> bool:
    from airflow.models import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        return session.get(DagModel, dag_id).is_paused


def set_dag_paused(dag_id: str, paused: bool) -> None:
    from airflow.models import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        session.get(DagModel, dag_id).is_paused = paused


def dag_runs_by(dag_id: str) -> list[str | None]:
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        query = select(DagRun.triggering_user_name).where(DagRun.dag_id == dag_id)
        return list(session.scalars(query))


def emr_calls(aws: Any, operation: str) -> int:
    return aws.control.call_counts().get("emr", {}).get(operation, 0)


@pytest.fixture
def world(seed, job_dag, clean_embedded_aws) -> World:
    """Alice's active cluster (real in the embedded AWS) and her Spark job with its DAG."""
    emr = clean_embedded_aws.client("emr")
    jobflow_id = emr.run_job_flow(
        Name=f"atmo-matrix-{uuid.uuid4().hex[:8]}",
        ReleaseLabel="emr-6.15.0",
        Instances={
            "MasterInstanceType": "m5.xlarge",
            "InstanceCount": 1,
            "KeepJobFlowAliveWhenNoSteps": True,
        },
        JobFlowRole="EMR_EC2_DefaultRole",
        ServiceRole="EMR_DefaultRole",
    )["JobFlowId"]
    suffix = uuid.uuid4().hex[:8]
    cluster = seed.cluster("alice", identifier=f"alices-cluster-{suffix}", jobflow_id=jobflow_id)
    job = seed.job("alice", identifier=f"alices-job-{suffix}")
    dag_id = job_dag(job.identifier)
    set_dag_paused(dag_id, False)
    clean_embedded_aws.control.reset_call_counts()
    return World(cluster, job, dag_id, jobflow_id, seed, clean_embedded_aws)


def request_as(client, login, actor: str, action: str, world: World):
    """Make the cell's request as ``actor``, with a form token of theirs for a POST."""
    method, template = ACTIONS[action]
    path = template.format(cluster=world.cluster.id, job=world.job.id)
    roles = ACTORS[actor]
    form: dict[str, str] = {}
    if roles is not None:
        login(*roles)
        if method == "POST":
            form["csrf_token"] = csrf_token(client, "/atmo/")
    if action == "cluster-extend":
        form["hours"] = "4"
    if action == "job-resume":
        set_dag_paused(world.dag_id, True)

    if method == "POST":
        return client.post(path, data=form)
    return client.request(method, path)


def assert_untouched(world: World, action: str) -> None:
    """Nothing of alice's changed, and no AWS call was made."""
    cluster = world.cluster_now()
    assert cluster.most_recent_status == "WAITING"
    assert cluster.expires_at == world.cluster.expires_at
    assert cluster.lifetime_extension_count == 0
    job = world.job_now()
    assert job.deleted_at is None
    assert job.is_enabled is True
    assert dag_is_paused(world.dag_id) is (action == "job-resume")
    assert dag_runs_by(world.dag_id) == []
    assert world.aws.control.call_counts().get("emr", {}) == {}


def assert_done(world: World, action: str, username: str) -> None:
    """The action the cell allowed happened, to alice's object and nothing else."""
    if action == "cluster-extend":
        assert world.cluster_now().lifetime_extension_count == 1
    elif action == "cluster-terminate":
        assert world.cluster_now().most_recent_status == "TERMINATING"
        assert emr_calls(world.aws, "TerminateJobFlows") == 1
        state = world.aws.client("emr").describe_cluster(ClusterId=world.jobflow_id)
        assert state["Cluster"]["Status"]["State"] in ("TERMINATING", "TERMINATED")
    elif action == "job-run":
        assert dag_runs_by(world.dag_id) == [username]
        assert world.job_now().is_enabled is True
    elif action == "job-pause":
        assert dag_is_paused(world.dag_id) is True
        assert world.job_now().is_enabled is False
    elif action == "job-resume":
        assert dag_is_paused(world.dag_id) is False
        assert world.job_now().is_enabled is True
    elif action == "job-delete":
        assert world.job_now() is None
        assert dag_is_paused(world.dag_id) is True


def test_matrix_covers_every_route_of_the_tab():
    from fastapi.routing import APIRoute

    from atmo_provider.plugin.app import create_app

    served = {
        (method, route.path)
        for route in create_app().routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    covered = {
        (method, template.split("?")[0].removeprefix("/atmo").replace("{cluster}", "{id}"))
        for method, template in ACTIONS.values()
    }
    covered = {(method, path.replace("{job}", "{id}")) for method, path in covered}

    assert served - covered == set()


@pytest.mark.parametrize(("action", "actor", "expected"), CELLS)
def test_access_cell(action, actor, expected, client, login, world):
    response = request_as(client, login, actor, action, world)

    assert response.status_code == expected, response.text[:300]
    if expected in (200, 303) and action in ACTIONS and ACTIONS[action][0] == "POST":
        assert_done(world, action, ACTORS[actor][0])
    else:
        assert_untouched(world, action)


@pytest.mark.parametrize(
    ("action", "actor"),
    [(action, actor) for action, shown in SHOWN.items() for actor in shown],
)
def test_pages_show_nothing_of_alices_beyond_what_the_user_may_see(
    action, actor, client, login, world
):
    cluster_shown, job_shown = SHOWN[action][actor]

    html = request_as(client, login, actor, action, world).text

    assert (world.cluster.identifier in html) is cluster_shown
    if not cluster_shown:
        assert world.jobflow_id not in html
    assert (world.job.identifier in html) is job_shown
    assert (f"/atmo/clusters/{world.cluster.id}" in html) is cluster_shown


REFUSED_CELLS = [
    pytest.param(action, actor, id=f"{action}-{actor}")
    for action, statuses in MATRIX.items()
    for actor, status in zip(ACTORS, statuses, strict=True)
    if status == 404 and ACTIONS[action][0] != "HEAD"
]


@pytest.mark.parametrize(("action", "actor"), REFUSED_CELLS)
def test_refusal_answers_exactly_like_a_missing_object(action, actor, client, login, world):
    refused = request_as(client, login, actor, action, world)
    method, template = ACTIONS[action]
    missing_path = template.format(cluster=999999, job=999999)
    form = None
    if method == "POST":
        form = {"csrf_token": csrf_token(client, "/atmo/"), "hours": "4"}

    missing = client.request(method, missing_path, data=form)

    assert refused.status_code == missing.status_code == 404
    assert refused.text == missing.text


@pytest.mark.parametrize("actor", ["maintainer", "admin", "other"])
def test_job_page_offers_only_the_actions_the_user_may_take(actor, client, login, world):
    login(*ACTORS[actor])

    response = client.get(f"/atmo/jobs/{world.job.id}")

    html = response.text
    if actor != "maintainer":
        assert response.status_code == 404
        assert f"/atmo/jobs/{world.job.id}/" not in html
        return
    assert f"/atmo/jobs/{world.job.id}/run" in html
    for refused in ("pause", "resume", "delete"):
        assert f"/atmo/jobs/{world.job.id}/{refused}" not in html
