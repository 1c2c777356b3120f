"""Owner mail: through Airflow's email backend when one is configured, to the log otherwise."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import pytest

from atmo_provider.notify import (
    Message,
    email_configured,
    expiration_warning,
    run_failure_alert,
    send_message,
)
from atmo_provider.records.models import Cluster, SparkJob, SparkJobRun
from atmo_provider.settings import AtmoSettings

#: What :func:`deliver` received, in order.
DELIVERED: list[dict] = []

MESSAGE = Message(
    to="ada@example.com", subject="Cluster x is expiring soon!", html="<p>hi</p>", owner="ada"
)


def deliver(to, subject, html_content, **_kwargs) -> None:
    """An Airflow email backend for these tests."""
    if subject == "explode":
        raise ConnectionRefusedError("mail server down")
    DELIVERED.append({"to": to, "subject": subject, "html": html_content})


@pytest.fixture(autouse=True)
def no_email_settings(monkeypatch):
    """Airflow's defaults: the SMTP backend, smtp_host localhost, no smtp_default connection."""
    for name in (
        "AIRFLOW__EMAIL__EMAIL_BACKEND",
        "AIRFLOW__SMTP__SMTP_HOST",
        "AIRFLOW_CONN_SMTP_DEFAULT",
    ):
        monkeypatch.delenv(name, raising=False)
    DELIVERED.clear()


@pytest.fixture
def test_backend(monkeypatch):
    monkeypatch.setenv("AIRFLOW__EMAIL__EMAIL_BACKEND", f"{__name__}.deliver")


def test_without_email_settings_nothing_is_configured():
    assert email_configured() is False


def test_without_email_settings_the_message_is_logged_instead(caplog):
    with caplog.at_level(logging.WARNING, logger="atmo_provider.notify"):
        sent = send_message(MESSAGE)

    assert sent is False
    assert DELIVERED == []
    assert (
        "No email configured; would have sent 'Cluster x is expiring soon!' to ada "
        "<ada@example.com>" in caplog.text
    )


def test_a_configured_backend_receives_the_message(test_backend):
    sent = send_message(MESSAGE)

    assert sent is True
    assert DELIVERED == [
        {"to": "ada@example.com", "subject": "Cluster x is expiring soon!", "html": "<p>hi</p>"}
    ]


def test_an_error_of_the_backend_is_raised_for_a_later_try(test_backend):
    with pytest.raises(ConnectionRefusedError):
        send_message(Message(to="ada@example.com", subject="explode", html=""))


def test_a_message_without_recipient_is_not_sent(test_backend, caplog):
    with caplog.at_level(logging.WARNING, logger="atmo_provider.notify"):
        sent = send_message(
            Message(to="", subject="Cluster x is expiring soon!", html="", owner="ada")
        )

    assert sent is False
    assert DELIVERED == []
    assert "No email address on record for ada" in caplog.text


def test_an_smtp_host_counts_as_configured(monkeypatch):
    monkeypatch.setenv("AIRFLOW__SMTP__SMTP_HOST", "mail.example.com")

    assert email_configured() is True


def test_an_smtp_connection_counts_as_configured(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", "smtp://user:secret@mail.example.com:587")

    assert email_configured() is True


SETTINGS = AtmoSettings(site_url="https://atmo.example.com/")


def test_expiration_warning_names_the_cluster_its_end_and_how_to_extend_it():
    cluster = Cluster(
        id=12,
        identifier="big<b>one",
        created_by="ada",
        created_by_email="ada@example.com",
        jobflow_id="j-ABC",
        expires_at=datetime(2024, 5, 4, 18, 30, tzinfo=timezone.utc),
    )

    message = expiration_warning(cluster, SETTINGS)

    assert (message.to, message.owner) == ("ada@example.com", "ada")
    assert message.subject == "Cluster big<b>one is expiring soon!"
    assert "big&lt;b&gt;one" in message.html and "big<b>one" not in message.html
    assert "2024-05-04 18:30 UTC" in message.html
    assert 'href="https://atmo.example.com/atmo/clusters/12"' in message.html
    assert "airflow atmo clusters extend 12 --hours N" in message.html


def test_run_failure_alert_gives_emrs_reason_and_the_jobs_page():
    job = SparkJob(
        id=7, identifier="nightly", created_by="ada", created_by_email="ada@example.com"
    )
    run = SparkJobRun(
        jobflow_id="j-RUN",
        status="TERMINATED_WITH_ERRORS",
        status_reason_code="STEP_FAILURE",
        status_reason_message="Shut down as step failed",
        scheduled_at=datetime(2024, 5, 4, 6, tzinfo=timezone.utc),
    )

    message = run_failure_alert(job, run, SETTINGS)

    assert message.subject == "Spark job nightly failed"
    assert "TERMINATED_WITH_ERRORS (STEP_FAILURE)" in message.html
    assert "Shut down as step failed" in message.html
    assert "2024-05-04 06:00 UTC" in message.html
    assert 'href="https://atmo.example.com/atmo/jobs/7"' in message.html
