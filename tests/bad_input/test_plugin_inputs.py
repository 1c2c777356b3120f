"""Bad query strings, ids, form values and descriptions at the ATMO tab: 404, 400 or the
default filter, never a 500 and never the input echoed as markup; nothing changes."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from atmo_provider.plugin.templating import render_markdown
from atmo_provider.records.models import Cluster, SparkJob
from tests.bad_input.conftest import load_cases
from tests.plugin.conftest import csrf_token

GET_ROUTES = ("/atmo/clusters/{id}", "/atmo/jobs/{id}")
POST_ROUTES = (
    "/atmo/clusters/{id}/extend",
    "/atmo/clusters/{id}/terminate",
    "/atmo/jobs/{id}/run",
    "/atmo/jobs/{id}/pause",
    "/atmo/jobs/{id}/resume",
    "/atmo/jobs/{id}/delete",
)


def echoed_as_markup(value: str, html: str) -> bool:
    """Tell whether ``value`` holds markup and appears unescaped in ``html``."""
    return any(mark in value for mark in "<>\"'") and value in html


@pytest.fixture
def alice(client, login, seed) -> dict[str, Any]:
    """Alice logged in, with an active cluster, a Spark job and a form token."""
    login("alice", "User")
    cluster = seed.cluster("alice", jobflow_id="j-ALICE1")
    job = seed.job("alice", identifier="alices-job")
    return {"cluster": cluster, "job": job, "token": csrf_token(client, "/atmo/")}


@pytest.mark.parametrize("case", load_cases("dashboard_queries"))
def test_dashboard_answers_bad_query_with_the_default_view(case, client, alice, nothing_follows):
    response = client.get("/atmo/", params={case["field"]: case["value"]})

    assert response.status_code == 200
    assert not echoed_as_markup(case["value"], response.text)
    assert 'class="active" aria-current="true">Active<' in response.text
    if case.get("first_page", True):
        assert alice["cluster"].identifier in response.text
        assert "alices-job" in response.text
    nothing_follows()


@pytest.mark.parametrize("route", GET_ROUTES)
@pytest.mark.parametrize("case", load_cases("object_ids"))
def test_detail_page_answers_bad_id_with_404(case, route, client, alice, nothing_follows):
    response = client.get(route.format(id=quote(case["value"], safe="")))

    assert response.status_code == 404
    assert not echoed_as_markup(case["value"], response.text)
    nothing_follows()


@pytest.mark.parametrize("route", POST_ROUTES)
@pytest.mark.parametrize("case", load_cases("object_ids"))
def test_action_answers_bad_id_with_404_and_changes_nothing(
    case, route, client, alice, seed, nothing_follows
):
    form = {"csrf_token": alice["token"], "hours": "4"}

    response = client.post(route.format(id=quote(case["value"], safe="")), data=form)

    assert response.status_code == 404
    assert not echoed_as_markup(case["value"], response.text)
    assert seed.get(Cluster, alice["cluster"].id).expires_at == alice["cluster"].expires_at
    assert seed.get(Cluster, alice["cluster"].id).most_recent_status == "WAITING"
    assert seed.get(SparkJob, alice["job"].id).deleted_at is None
    nothing_follows()


@pytest.mark.parametrize("case", load_cases("extend_hours"))
def test_extension_answers_bad_hours_with_400_naming_them(
    case, client, alice, seed, nothing_follows
):
    cluster = alice["cluster"]

    response = client.post(
        f"/atmo/clusters/{cluster.id}/extend",
        data={"csrf_token": alice["token"], case["field"]: case["value"]},
    )

    assert response.status_code == 400
    assert case["field"] in response.text
    assert not echoed_as_markup(case["value"], response.text)
    saved = seed.get(Cluster, cluster.id)
    assert (saved.expires_at, saved.lifetime_extension_count) == (cluster.expires_at, 0)
    nothing_follows()


@pytest.mark.parametrize("case", load_cases("markdown"))
def test_markdown_filter_removes_active_content(case):
    html = str(render_markdown(case["value"]))

    assert not any(bad in html.lower() for bad in case["forbidden"]), html


@pytest.mark.parametrize("case", load_cases("markdown"))
def test_job_page_shows_the_description_without_active_content(case, client, login, seed):
    login("alice", "User")
    plain = seed.job("alice", description="Counts the things.")
    job = seed.job("alice", description=f"Counts **things**.\n\n{case['value']}")

    baseline = client.get(f"/atmo/jobs/{plain.id}").text.lower()
    html = client.get(f"/atmo/jobs/{job.id}").text.lower()

    assert "<strong>things</strong>" in html
    for bad in case["forbidden"]:
        assert html.count(bad) == baseline.count(bad), bad
