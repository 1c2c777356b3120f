"""Template filters, the "Here be dragons" banner and the modification date header."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from atmo_provider.plugin.app import create_app
from atmo_provider.plugin.auth import airflow_user, tab_access
from atmo_provider.plugin.csrf import CsrfProtection
from atmo_provider.plugin.headers import format_modified_date
from atmo_provider.plugin.templating import (
    format_interval,
    full_url,
    render_markdown,
    shows_dragons,
    url_update,
)
from atmo_provider.settings import AtmoSettings
from tests.plugin.conftest import fab_user

DRAGONS = "Here be dragons"


def test_markdown_renders_emphasis_and_links():
    html = render_markdown("Some **bold** and [a link](https://example.org/x).")

    assert "<strong>bold</strong>" in html
    assert 'href="https://example.org/x"' in html
    assert 'rel="noopener noreferrer nofollow"' in html


def test_markdown_drops_script_tags_with_their_content():
    html = render_markdown("before <script>alert('owned')</script> after")

    assert "<script" not in html
    assert "alert" not in html
    assert "before" in html and "after" in html


def test_markdown_drops_event_handler_attributes():
    html = render_markdown('<img src="https://example.org/a.png" onerror="alert(1)">')

    assert "onerror" not in html
    assert 'src="https://example.org/a.png"' in html


def test_markdown_drops_javascript_urls():
    html = render_markdown("[click me](javascript:alert(1)) <a href='JaVaScRiPt:alert(2)'>x</a>")

    assert "javascript" not in html.lower()
    assert "click me" in html


def test_markdown_of_nothing_is_empty():
    assert render_markdown(None) == ""


def test_url_update_replaces_and_removes_query_parameters():
    url = url_update(
        "/atmo/?clusters=all&jobs=mine&clusters_page=3", clusters="failed", clusters_page=None
    )

    assert url == "/atmo/?jobs=mine&clusters=failed"


def test_full_url_joins_a_path_to_the_site_url():
    assert full_url("/atmo/clusters/3", "https://airflow.example.org/") == (
        "https://airflow.example.org/atmo/clusters/3"
    )


def test_full_url_keeps_the_site_urls_own_path():
    assert full_url("/atmo/", "https://example.org/airflow") == "https://example.org/airflow/atmo/"


@pytest.mark.parametrize(
    ("hours", "words"), [(24, "daily"), (168, "weekly"), (720, "monthly"), (6, "every 6 hours")]
)
def test_interval_reads_as_words(hours, words):
    assert format_interval(hours) == words


@pytest.mark.parametrize(
    ("environment", "host", "shown"),
    [
        ("dev", "airflow.example.org", True),
        ("stage", "airflow.example.org", True),
        ("staging", "airflow.example.org", True),
        ("prod", "airflow.example.org", False),
        ("prod", "airflow.stage.example.org", True),
        ("prod", "localhost", True),
        ("prod", "airflow-dev.example.org", True),
    ],
)
def test_dragons_show_for_development_and_staging_installs(environment, host, shown):
    assert shows_dragons(environment, host) is shown


def _dashboard_html(records, environment: str) -> str:
    app = create_app(
        settings=AtmoSettings(environment=environment),
        engine=records,
        csrf=CsrfProtection("test-secret"),
    )
    user = fab_user("alice", "User")
    app.dependency_overrides[airflow_user] = lambda: user
    app.dependency_overrides[tab_access] = lambda: None
    parent = FastAPI()
    parent.mount("/atmo", app)
    with TestClient(parent, base_url="http://airflow.example.org") as client:
        return client.get("/atmo/").text


def test_banner_is_shown_in_dev(records, airflow_db):
    assert DRAGONS in _dashboard_html(records, "dev")


def test_banner_is_absent_in_prod(records, airflow_db):
    assert DRAGONS not in _dashboard_html(records, "prod")


def test_modified_date_is_iso_8601_with_offset():
    moment = datetime(2017, 3, 14, 11, 48, 53, 123456, tzinfo=timezone(timedelta(hours=1)))

    assert format_modified_date(moment) == "2017-03-14T10:48:53+00:00"


def test_pages_forbid_foreign_scripts_and_framing(client, login):
    login("alice", "User")

    policy = client.get("/atmo/").headers["content-security-policy"]

    assert "script-src 'self'" in policy
    assert "frame-ancestors 'self'" in policy
