"""The dashboard lists what the user may see, filters and pages it, and answers GET and HEAD."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event, insert

from atmo_provider.plugin.headers import MODIFIED_DATE_HEADER
from atmo_provider.records.db import session_scope
from atmo_provider.records.models import Cluster, ObjectPermission
from tests.plugin.conftest import MAINTAINERS

_ROW_LINK_RE = re.compile(r'<a href="/atmo/(clusters|jobs)/(\d+)">([^<]+)</a>')


def _listed(html: str, kind: str) -> list[str]:
    return [name for found, _id, name in _ROW_LINK_RE.findall(html) if found == kind]


def test_dashboard_lists_the_users_own_clusters_only(client, login, seed):
    seed.cluster("alice", identifier="alices-cluster")
    seed.cluster("bob", identifier="bobs-cluster")
    login("alice", "User")

    response = client.get("/atmo/")

    assert response.status_code == 200
    assert _listed(response.text, "clusters") == ["alices-cluster"]


def test_clusters_are_listed_newest_first(client, login, seed):
    now = datetime.now(timezone.utc)
    seed.cluster("alice", identifier="older", created_at=now - timedelta(hours=2))
    seed.cluster("alice", identifier="newer", created_at=now - timedelta(hours=1))
    login("alice", "User")

    html = client.get("/atmo/").text

    assert _listed(html, "clusters") == ["newer", "older"]


@pytest.mark.parametrize(
    ("which", "expected"),
    [
        ("active", ["waiting", "starting"]),
        ("terminated", ["failed", "terminated"]),
        ("failed", ["failed"]),
        ("all", ["failed", "terminated", "waiting", "starting"]),
    ],
)
def test_cluster_filter_selects_clusters_by_status(client, login, seed, which, expected):
    now = datetime.now(timezone.utc)
    statuses = [
        ("starting", "STARTING"),
        ("waiting", "WAITING"),
        ("terminated", "TERMINATED"),
        ("failed", "TERMINATED_WITH_ERRORS"),
    ]
    for age, (identifier, status) in enumerate(reversed(statuses)):
        seed.cluster(
            "alice",
            identifier=identifier,
            most_recent_status=status,
            created_at=now - timedelta(minutes=age),
        )
    login("alice", "User")

    html = client.get(f"/atmo/?clusters={which}").text

    assert _listed(html, "clusters") == expected


def test_unknown_cluster_filter_falls_back_to_active(client, login, seed):
    seed.cluster("alice", identifier="running", most_recent_status="WAITING")
    seed.cluster("alice", identifier="gone", most_recent_status="TERMINATED")
    login("alice", "User")

    html = client.get("/atmo/?clusters=everything-please").text

    assert _listed(html, "clusters") == ["running"]
    assert 'href="/atmo/?clusters=active" class="active"' in html


def test_jobs_list_only_the_users_own_jobs_by_default(client, login, seed):
    seed.job("alice", identifier="alices-job")
    seed.job("bob", identifier="bobs-job")
    login("alice", "User")

    html = client.get("/atmo/").text

    assert _listed(html, "jobs") == ["alices-job"]


def test_jobs_all_filter_falls_back_to_mine_for_non_maintainers(client, login, seed):
    seed.job("alice", identifier="alices-job")
    seed.job("bob", identifier="bobs-job")
    login("alice", "User")

    html = client.get("/atmo/?jobs=all").text

    assert _listed(html, "jobs") == ["alices-job"]
    assert "<th>Owner</th>" not in html


def test_maintainer_sees_every_job_with_its_owner_under_all(client, login, seed):
    seed.job(
        "alice", identifier="alices-job", start_date=datetime(2024, 2, 1, tzinfo=timezone.utc)
    )
    seed.job("bob", identifier="bobs-job", start_date=datetime(2024, 1, 1, tzinfo=timezone.utc))
    login("maria", "User", MAINTAINERS)

    html = client.get("/atmo/?jobs=all").text

    assert _listed(html, "jobs") == ["alices-job", "bobs-job"]
    assert "<th>Owner</th>" in html
    assert "<td>bob</td>" in html


def test_maintainer_sees_only_own_jobs_under_mine(client, login, seed):
    seed.job("alice", identifier="alices-job")
    login("maria", "User", MAINTAINERS)

    html = client.get("/atmo/?jobs=mine").text

    assert _listed(html, "jobs") == []


def test_job_row_shows_the_status_of_the_latest_run(client, login, seed):
    job = seed.job("alice")
    seed.run(job, status="TERMINATED")
    seed.run(job, status="TERMINATED_WITH_ERRORS")
    login("alice", "User")

    html = client.get("/atmo/").text

    assert '<span class="badge status-failed">TERMINATED_WITH_ERRORS</span>' in html


def test_job_row_shows_the_next_run_from_airflow(client, login, seed, job_dag):
    job = seed.job("alice")
    job_dag(job.identifier)
    login("alice", "User")

    html = client.get("/atmo/").text

    jobs_section = html[html.index('id="jobs"') :]
    assert "no DAG" not in jobs_section
    assert re.search(
        r"<td><time datetime=\"[^\"]+\">\d{4}-\d\d-\d\d \d\d:\d\d UTC</time></td>\s*</tr>",
        jobs_section,
    )


def test_dashboard_refuses_post_with_405(client, login):
    login("alice", "User")

    response = client.post("/atmo/", data={})

    assert response.status_code == 405
    assert "GET" in response.headers["allow"]


def test_head_returns_the_modified_date_header_without_a_body(client, login, seed):
    cluster = seed.cluster("alice")
    login("alice", "User")

    response = client.head("/atmo/")

    assert response.status_code == 200
    assert response.content == b""
    assert response.headers[MODIFIED_DATE_HEADER] == cluster.modified_at.isoformat(
        timespec="seconds"
    )


def test_modified_date_header_moves_when_a_shown_cluster_changes(client, login, seed):
    cluster = seed.cluster("alice")
    login("alice", "User")
    before = client.head("/atmo/").headers[MODIFIED_DATE_HEADER]

    time.sleep(1.1)
    with session_scope(seed.engine) as session:
        session.get(Cluster, cluster.id).most_recent_status = "RUNNING"

    after = client.head("/atmo/").headers[MODIFIED_DATE_HEADER]
    assert after > before


def test_page_tells_the_script_which_modification_date_it_shows(client, login, seed):
    seed.cluster("alice")
    login("alice", "User")

    response = client.get("/atmo/")

    assert f'data-modified-date="{response.headers[MODIFIED_DATE_HEADER]}"' in response.text


def test_refresh_link_keeps_the_filters_and_drops_the_notice(client, login):
    login("alice", "User")

    html = client.get("/atmo/?clusters=failed&done=extended").text

    assert '<a href="/atmo/?clusters=failed">Refresh</a>' in html


def _many_clusters(engine, owner: str, count: int) -> None:
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    rows = [
        {
            "identifier": f"c-{number:05d}",
            "created_by": owner,
            "created_by_email": f"{owner}@example.com",
            "emr_release": "6.15.0",
            "size": 1,
            "lifetime": 8,
            "lifetime_extension_count": 0,
            "ssh_key_fingerprint": "",
            "most_recent_status": "WAITING",
            "status_reason_code": "",
            "status_reason_message": "",
            "master_address": "",
            "expiration_mail_sent": False,
            "created_at": start + timedelta(minutes=number),
            "modified_at": start + timedelta(minutes=number),
        }
        for number in range(1, count + 1)
    ]
    with session_scope(engine) as session:
        session.execute(insert(Cluster), rows)
        ids = [
            row[0]
            for row in session.execute(Cluster.__table__.select().with_only_columns(Cluster.id))
        ]
        session.execute(
            insert(ObjectPermission),
            [
                {
                    "object_type": "clusters",
                    "object_id": cluster_id,
                    "permission": "view",
                    "username": owner,
                    "created_at": start,
                }
                for cluster_id in ids
            ],
        )


def test_dashboard_shows_fifty_clusters_per_page_with_a_link_to_the_next(client, login, seed):
    _many_clusters(seed.engine, "alice", 120)
    login("alice", "User")

    first = client.get("/atmo/").text
    third = client.get("/atmo/?clusters_page=3").text

    assert len(_listed(first, "clusters")) == 50
    assert _listed(first, "clusters")[0] == "c-00120"
    assert 'href="/atmo/?clusters_page=2"' in first
    assert _listed(third, "clusters")[-1] == "c-00001"
    assert len(_listed(third, "clusters")) == 20
    assert "Older &rarr;" not in third


def test_dashboard_of_ten_thousand_clusters_renders_fast_with_one_query_per_list(
    client, login, seed
):
    _many_clusters(seed.engine, "alice", 10_000)
    login("alice", "User")
    selects: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    event.listen(seed.engine, "before_cursor_execute", count)
    try:
        started = time.monotonic()
        response = client.get("/atmo/?clusters=all")
        elapsed = time.monotonic() - started
    finally:
        event.remove(seed.engine, "before_cursor_execute", count)

    assert response.status_code == 200
    assert len(_listed(response.text, "clusters")) == 50
    assert len(selects) == 2
    assert elapsed < 2.0
