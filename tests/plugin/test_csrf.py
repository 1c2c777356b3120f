"""Every state-changing form needs the CSRF token of the logged-in user and their cookie."""

from __future__ import annotations

import pytest

from atmo_provider.plugin.csrf import CSRF_COOKIE, CsrfProtection
from atmo_provider.records.models import Cluster
from tests.plugin.conftest import csrf_token

ACTIONS = [
    ("clusters", "extend"),
    ("clusters", "terminate"),
    ("jobs", "run"),
    ("jobs", "pause"),
    ("jobs", "resume"),
    ("jobs", "delete"),
]


@pytest.mark.parametrize(("kind", "action"), ACTIONS)
def test_post_without_a_csrf_token_is_refused(client, login, seed, kind, action):
    record = seed.cluster("alice") if kind == "clusters" else seed.job("alice")
    login("alice", "User")
    client.get(f"/atmo/{kind}/{record.id}")

    response = client.post(f"/atmo/{kind}/{record.id}/{action}", data={"hours": "4"})

    assert response.status_code == 403


def test_token_of_another_user_is_refused(client, login, seed):
    cluster = seed.cluster("alice")
    login("mallory", "User")
    mallorys_token = csrf_token(client, "/atmo/")
    login("alice", "User")

    response = client.post(
        f"/atmo/clusters/{cluster.id}/extend", data={"hours": "4", "csrf_token": mallorys_token}
    )

    assert response.status_code == 403
    assert seed.get(Cluster, cluster.id).lifetime_extension_count == 0


def test_token_without_its_cookie_is_refused(client, login, seed):
    cluster = seed.cluster("alice")
    login("alice", "User")
    token = csrf_token(client, f"/atmo/clusters/{cluster.id}")
    client.cookies.clear()

    response = client.post(
        f"/atmo/clusters/{cluster.id}/extend", data={"hours": "4", "csrf_token": token}
    )

    assert response.status_code == 403


def test_cookie_is_scoped_to_the_tab_and_hidden_from_scripts(client, login):
    login("alice", "User")

    cookie = client.get("/atmo/").headers["set-cookie"]

    assert cookie.startswith(f"{CSRF_COOKIE}=")
    assert "Path=/atmo/" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie


def test_expired_token_is_invalid():
    protection = CsrfProtection("secret", max_age=-1)

    token = protection.token("alice", "n" * 32)

    assert protection.is_valid(token, "alice", "n" * 32) is False


def test_token_signed_with_another_secret_is_invalid():
    token = CsrfProtection("other-secret").token("alice", "n" * 32)

    assert CsrfProtection("secret").is_valid(token, "alice", "n" * 32) is False
