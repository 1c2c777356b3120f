"""Error pages: 404 for unknown paths, 500 without a traceback, plain 403 as a last resort."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from jinja2 import TemplateNotFound

from atmo_provider.plugin import errors
from atmo_provider.plugin.app import create_app
from atmo_provider.plugin.auth import airflow_user, tab_access
from atmo_provider.plugin.csrf import CsrfProtection
from atmo_provider.records.db import engine_from_url
from tests.plugin.conftest import fab_user


def test_unknown_path_gets_the_tabs_404_page(client, login):
    login("alice", "User")

    response = client.get("/atmo/no/such/page")

    assert response.status_code == 404
    assert "404 · Not found" in response.text


def test_database_failure_gives_a_500_page_without_a_traceback(tmp_path, settings, airflow_db):
    unmigrated = engine_from_url(f"sqlite:///{tmp_path / 'empty.db'}")
    app = create_app(settings=settings, engine=unmigrated, csrf=CsrfProtection("test-secret"))
    user = fab_user("alice", "User")
    app.dependency_overrides[airflow_user] = lambda: user
    app.dependency_overrides[tab_access] = lambda: None
    parent = FastAPI()
    parent.mount("/atmo", app)

    with TestClient(parent, raise_server_exceptions=False) as client:
        response = client.get("/atmo/")

    assert response.status_code == 500
    assert "500 · Something went wrong" in response.text
    assert "Traceback" not in response.text
    assert "no such table" not in response.text
    assert "sqlite" not in response.text.lower()


def test_refused_form_gets_the_tabs_403_page(client, login, seed):
    cluster = seed.cluster("alice")
    login("alice", "User")

    response = client.post(f"/atmo/clusters/{cluster.id}/extend", data={"hours": "4"})

    assert response.status_code == 403
    assert "403 · Forbidden" in response.text
    assert "Reload the page" in response.text


def test_403_is_plain_text_when_its_template_cannot_be_rendered(client, login, seed, monkeypatch):
    cluster = seed.cluster("alice")
    login("alice", "User")

    def missing_template(*args, **kwargs):
        raise TemplateNotFound("error.html")

    monkeypatch.setattr(errors, "render", missing_template)
    response = client.post(f"/atmo/clusters/{cluster.id}/extend", data={"hours": "4"})

    assert response.status_code == 403
    assert response.text == "403 Forbidden"
    assert response.headers["content-type"].startswith("text/plain")
