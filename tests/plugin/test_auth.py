"""Airflow's own token check guards every route of the tab; nothing is stubbed here.

Users are created in the test Airflow database with the FAB security manager and log in with
JWTs from the FAB auth manager, sent as the UI does (the ``_token`` cookie) or as API clients do
(a Bearer header). As in the local stack, the roles ``User`` and the maintainers' role have
``can_read`` on ``Plugins``; the role ``Outsiders`` has no permission at all.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from atmo_provider.plugin.app import create_app
from tests.plugin.conftest import MAINTAINERS

_usernames = itertools.count(1)

#: A role without any permission, not even on plugins.
OUTSIDERS = "Outsiders"


def _route_calls() -> list[tuple[str, str]]:
    app = create_app()
    calls = []
    for route in app.routes:
        if not isinstance(route, APIRoute):
            continue
        for method in sorted(route.methods):
            calls.append((method, "/atmo" + route.path.replace("{id}", "1")))
    return calls


@pytest.fixture
def real_auth_client(app: FastAPI) -> Iterator[TestClient]:
    """The app mounted at ``/atmo`` with Airflow's real user dependency."""
    assert not app.dependency_overrides
    parent = FastAPI()
    parent.mount("/atmo", app)
    with TestClient(parent, raise_server_exceptions=False, follow_redirects=False) as client:
        yield client


@pytest.fixture(scope="module")
def fab(airflow_db):
    """The FAB auth manager and security manager on the test Airflow database."""
    from airflow.api_fastapi.app import init_auth_manager
    from airflow.providers.fab.www.app import create_app as create_fab_app

    auth_manager = init_auth_manager()
    flask_app = create_fab_app(enable_plugins=False)
    with flask_app.app_context():
        security_manager = flask_app.appbuilder.sm
        plugins_read = security_manager.create_permission("can_read", "Plugins")
        for name in ("User", MAINTAINERS, OUTSIDERS):
            role = security_manager.find_role(name) or security_manager.add_role(name)
            if name != OUTSIDERS:
                security_manager.add_permission_to_role(role, plugins_read)

    def token(*roles: str, username: str | None = None, expires_in: int = 600) -> tuple[str, str]:
        username = username or f"plugin-user-{next(_usernames)}"
        with flask_app.app_context():
            user = security_manager.add_user(
                username,
                username.capitalize(),
                "Tester",
                f"{username}@example.com",
                [security_manager.find_role(role) for role in roles],
                password="not-used-here",
            )
            assert user, f"could not create {username}"
            jwt = auth_manager.generate_jwt(user, expiration_time_in_seconds=expires_in)
        return username, jwt

    return token


@pytest.mark.parametrize(("method", "path"), _route_calls())
def test_every_route_answers_401_without_a_token(real_auth_client, method, path):
    response = real_auth_client.request(method, path)

    assert response.status_code == 401


def test_every_route_is_covered_by_the_401_check():
    paths = {path for _method, path in _route_calls()}

    assert paths == {
        "/atmo/",
        "/atmo/clusters/1",
        "/atmo/clusters/1/extend",
        "/atmo/clusters/1/terminate",
        "/atmo/jobs/1",
        "/atmo/jobs/1/run",
        "/atmo/jobs/1/pause",
        "/atmo/jobs/1/resume",
        "/atmo/jobs/1/delete",
    }


def test_401_page_links_to_the_login_page(real_auth_client):
    response = real_auth_client.get("/atmo/")

    assert "Log in to Airflow" in response.text
    assert 'target="_top"' in response.text


def test_token_cookie_of_the_ui_logs_the_user_in(real_auth_client, fab, seed):
    username, jwt = fab("User")
    seed.cluster(username, identifier="cookie-cluster")

    response = real_auth_client.get("/atmo/", cookies={"_token": jwt})

    assert response.status_code == 200
    assert "cookie-cluster" in response.text


def test_bearer_token_logs_the_user_in(real_auth_client, fab, seed):
    username, jwt = fab("User")
    seed.cluster(username, identifier="bearer-cluster")

    response = real_auth_client.get("/atmo/", headers={"Authorization": f"Bearer {jwt}"})

    assert response.status_code == 200
    assert "bearer-cluster" in response.text


def test_user_whose_roles_do_not_read_plugins_is_refused(real_auth_client, fab):
    _username, jwt = fab(OUTSIDERS)

    response = real_auth_client.get("/atmo/", cookies={"_token": jwt})

    assert response.status_code == 403
    assert "can_read on Plugins" in response.text


def test_forged_token_is_refused(real_auth_client, fab):
    _username, jwt = fab("User")
    header, payload, signature = jwt.split(".")
    forged = f"{header}.{payload}.{signature[::-1]}"

    response = real_auth_client.get("/atmo/", cookies={"_token": forged})

    assert response.status_code == 403


def test_expired_token_is_refused(real_auth_client, fab):
    _username, jwt = fab("User", expires_in=-60)

    response = real_auth_client.get("/atmo/", cookies={"_token": jwt})

    assert response.status_code == 401


def test_maintainer_role_of_the_fab_user_shows_every_job(real_auth_client, fab, seed):
    _maintainer, jwt = fab("User", MAINTAINERS)
    seed.job("someone-else", identifier="someone-elses-job")

    response = real_auth_client.get("/atmo/?jobs=all", cookies={"_token": jwt})

    assert "someone-elses-job" in response.text
    assert "<th>Owner</th>" in response.text


def test_user_without_the_maintainer_role_sees_no_one_elses_job(real_auth_client, fab, seed):
    _username, jwt = fab("User")
    seed.job("someone-else", identifier="someone-elses-job")

    response = real_auth_client.get("/atmo/?jobs=all", cookies={"_token": jwt})

    assert "someone-elses-job" not in response.text
