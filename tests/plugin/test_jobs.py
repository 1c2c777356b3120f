"""Spark job pages: detail with runs and results, run now, pause, resume and delete."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from atmo_provider.embedded.stack import free_port
from atmo_provider.records.models import ObjectPermission, SparkJob
from tests.plugin.conftest import MAINTAINERS, csrf_token


@pytest.fixture(autouse=True)
def _s3_nowhere_unless_embedded(request, monkeypatch):
    """Point ``aws_default`` at a closed port on 127.0.0.1 unless the test uses the embedded AWS.

    The detail page lists result files in S3; no test may send that to the real AWS.
    """
    if "embedded_aws" in request.fixturenames:
        return
    closed = {"endpoint_url": f"http://127.0.0.1:{free_port()}", "region_name": "us-west-2"}
    connection = {"conn_type": "aws", "login": "x", "password": "x", "extra": closed}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(connection))


def _dag_model(dag_id: str):
    from airflow.models import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        model = session.get(DagModel, dag_id)
        session.expunge_all()
        return model


def _dag_runs(dag_id: str) -> list[tuple[str, str | None]]:
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.execute(
            select(DagRun.run_type, DagRun.triggering_user_name).where(DagRun.dag_id == dag_id)
        ).all()
        return [tuple(row) for row in rows]


def test_detail_lists_runs_with_their_results_location(client, login, seed):
    job = seed.job("alice", identifier="nightly-counts", result_visibility="public")
    seed.run(job, jobflow_id="j-FIRST", started_at=datetime(2024, 3, 9, 5, tzinfo=timezone.utc))
    login("alice", "User")

    html = client.get(f"/atmo/jobs/{job.id}").text

    assert "j-FIRST" in html
    assert 'title="s3://atmo-public-data/nightly-counts/2024-03-09/"' in html
    assert "clusterDetails/j-FIRST" in html


def test_detail_lists_each_result_file_of_a_run_with_its_size(client, login, seed, embedded_aws):
    job = seed.job("alice", identifier="results-listed", result_visibility="public")
    seed.run(job, started_at=datetime(2024, 3, 9, 5, tzinfo=timezone.utc))
    s3 = embedded_aws.client("s3")
    bucket = embedded_aws.settings.public_data_bucket
    s3.put_object(Bucket=bucket, Key="results-listed/2024-03-09/counts.csv", Body=b"x" * 2048)
    s3.put_object(Bucket=bucket, Key="results-listed/2024-03-09/chart.png", Body=b"png")
    s3.put_object(Bucket=bucket, Key="results-listed/2024-03-02/older.csv", Body=b"old")
    login("alice", "User")

    response = client.get(f"/atmo/jobs/{job.id}")

    assert response.status_code == 200
    assert '>counts.csv</a> <span class="muted">2.0 kB</span>' in response.text
    assert '>chart.png</a> <span class="muted">3 Bytes</span>' in response.text
    assert "older.csv" not in response.text
    assert "prefix=results-listed/2024-03-09/counts.csv" in response.text


def test_detail_says_results_unavailable_when_s3_cannot_be_read(client, login, seed):
    job = seed.job("alice", identifier="results-unreadable")
    seed.run(job, started_at=datetime(2024, 3, 9, 5, tzinfo=timezone.utc))
    login("alice", "User")

    response = client.get(f"/atmo/jobs/{job.id}")

    assert response.status_code == 200
    assert "results unavailable" in response.text


def test_detail_renders_the_description_as_sanitized_markdown(client, login, seed):
    job = seed.job(
        "alice",
        description=(
            "Counts **clients**.\n\n<script>alert('x')</script>\n\n"
            '<img src="x.png" onerror="alert(1)">\n\n[click](javascript:alert(2))'
        ),
    )
    login("alice", "User")

    html = client.get(f"/atmo/jobs/{job.id}").text

    assert "<strong>clients</strong>" in html
    assert "alert" not in html


def test_another_users_job_answers_exactly_like_a_missing_one(client, login, seed):
    bobs = seed.job("bob")
    login("alice", "User")

    forbidden = client.get(f"/atmo/jobs/{bobs.id}")
    missing = client.get("/atmo/jobs/999999")

    assert forbidden.status_code == missing.status_code == 404
    assert forbidden.text == missing.text


def test_maintainer_may_view_any_job(client, login, seed):
    bobs = seed.job("bob", identifier="bobs-job")
    login("maria", "User", MAINTAINERS)

    response = client.get(f"/atmo/jobs/{bobs.id}")

    assert response.status_code == 200
    assert "bobs-job" in response.text


def test_maintainer_is_offered_neither_pause_nor_delete_on_anothers_job(
    client, login, seed, job_dag
):
    bobs = seed.job("bob")
    job_dag(bobs.identifier)
    login("maria", "User", MAINTAINERS)

    html = client.get(f"/atmo/jobs/{bobs.id}").text

    assert f"/atmo/jobs/{bobs.id}/run" in html
    assert f"/atmo/jobs/{bobs.id}/pause" not in html
    assert f"/atmo/jobs/{bobs.id}/delete" not in html


def test_run_now_triggers_the_jobs_dag_for_the_user(client, login, seed, job_dag):
    job = seed.job("alice")
    dag_id = job_dag(job.identifier)
    seed.run(job, status="TERMINATED")
    login("alice", "User")
    token = csrf_token(client, f"/atmo/jobs/{job.id}")

    response = client.post(f"/atmo/jobs/{job.id}/run", data={"csrf_token": token})

    assert response.status_code == 303
    assert response.headers["location"] == f"/atmo/jobs/{job.id}?done=run-started"
    assert _dag_runs(dag_id) == [("manual", "alice")]


def test_run_now_is_refused_while_the_last_run_has_not_finished(client, login, seed, job_dag):
    job = seed.job("alice")
    dag_id = job_dag(job.identifier)
    seed.run(job, status="RUNNING")
    login("alice", "User")
    token = csrf_token(client, f"/atmo/jobs/{job.id}")

    response = client.post(f"/atmo/jobs/{job.id}/run", data={"csrf_token": token})

    assert response.status_code == 409
    assert "The last run has not finished (RUNNING)" in response.text
    assert _dag_runs(dag_id) == []


def test_run_now_is_refused_while_a_dag_run_is_queued(client, login, seed, job_dag):
    job = seed.job("alice")
    dag_id = job_dag(job.identifier)
    login("alice", "User")
    token = csrf_token(client, f"/atmo/jobs/{job.id}")
    client.post(f"/atmo/jobs/{job.id}/run", data={"csrf_token": token})

    second = client.post(f"/atmo/jobs/{job.id}/run", data={"csrf_token": token})

    assert second.status_code == 409
    assert len(_dag_runs(dag_id)) == 1


def test_run_now_of_another_users_job_is_not_found(client, login, seed, job_dag):
    bobs = seed.job("bob")
    dag_id = job_dag(bobs.identifier)
    login("alice", "User")
    token = csrf_token(client, "/atmo/")

    response = client.post(f"/atmo/jobs/{bobs.id}/run", data={"csrf_token": token})

    assert response.status_code == 404
    assert _dag_runs(dag_id) == []


def test_pause_pauses_the_dag_and_disables_the_job(client, login, seed, job_dag):
    job = seed.job("alice")
    dag_id = job_dag(job.identifier)
    login("alice", "User")
    token = csrf_token(client, f"/atmo/jobs/{job.id}")

    response = client.post(f"/atmo/jobs/{job.id}/pause", data={"csrf_token": token})

    assert response.status_code == 303
    assert _dag_model(dag_id).is_paused is True
    assert seed.get(SparkJob, job.id).is_enabled is False


def test_resume_unpauses_the_dag_and_enables_the_job(client, login, seed, job_dag):
    job = seed.job("alice", is_enabled=False)
    dag_id = job_dag(job.identifier)
    login("alice", "User")
    token = csrf_token(client, f"/atmo/jobs/{job.id}")
    client.post(f"/atmo/jobs/{job.id}/pause", data={"csrf_token": token})

    response = client.post(f"/atmo/jobs/{job.id}/resume", data={"csrf_token": token})

    assert response.status_code == 303
    assert _dag_model(dag_id).is_paused is False
    assert seed.get(SparkJob, job.id).is_enabled is True


def test_maintainer_may_not_pause_anothers_job(client, login, seed, job_dag):
    bobs = seed.job("bob")
    dag_id = job_dag(bobs.identifier)
    login("maria", "User", MAINTAINERS)
    token = csrf_token(client, "/atmo/")

    response = client.post(f"/atmo/jobs/{bobs.id}/pause", data={"csrf_token": token})

    assert response.status_code == 404
    assert _dag_model(dag_id).is_paused is False


def test_delete_removes_the_job_and_its_permissions_and_pauses_the_dag(
    client, login, seed, job_dag
):
    job = seed.job("alice")
    dag_id = job_dag(job.identifier)
    seed.run(job)
    login("alice", "User")
    token = csrf_token(client, f"/atmo/jobs/{job.id}")

    response = client.post(f"/atmo/jobs/{job.id}/delete", data={"csrf_token": token})

    with seed.engine.connect() as connection:
        permissions = connection.scalar(
            select(func.count()).where(
                ObjectPermission.object_type == "spark_jobs", ObjectPermission.object_id == job.id
            )
        )
    assert response.status_code == 303
    assert response.headers["location"] == "/atmo/?done=deleted"
    assert seed.get(SparkJob, job.id) is None
    assert permissions == 0
    assert _dag_model(dag_id).is_paused is True


def test_delete_without_a_dag_in_airflow_still_removes_the_job(client, login, seed):
    job = seed.job("alice")
    login("alice", "User")
    token = csrf_token(client, f"/atmo/jobs/{job.id}")

    response = client.post(f"/atmo/jobs/{job.id}/delete", data={"csrf_token": token})

    assert response.status_code == 303
    assert seed.get(SparkJob, job.id) is None


def test_maintainer_may_not_delete_anothers_job(client, login, seed):
    bobs = seed.job("bob")
    login("maria", "User", MAINTAINERS)
    token = csrf_token(client, "/atmo/")

    response = client.post(f"/atmo/jobs/{bobs.id}/delete", data={"csrf_token": token})

    assert response.status_code == 404
    assert seed.get(SparkJob, bobs.id) is not None
