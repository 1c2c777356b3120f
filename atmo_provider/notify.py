"""Email to owners: the cluster expiry warning and the failed Spark job run alert.

Mail goes through Airflow's own email settings: :func:`airflow.utils.email.send_email` with the
backend of ``[email] email_backend`` (SMTP by default, or e.g. the SMTP provider's or SES's
backend) and the connection of ``[email] email_conn_id``.

Email counts as configured when any of these holds:

* ``[email] email_backend`` names a backend other than Airflow's default SMTP one;
* the connection named by ``[email] email_conn_id`` (``smtp_default``) exists;
* ``[smtp] smtp_host`` is set to something other than the default ``localhost``.

Without any of them, a message is not sent: the log says "no email configured; would have sent
<subject> to <owner>" and the message still counts as sent, so the flag that makes a warning or
an alert go out once is set all the same. A fresh installation thus keeps quiet instead of
retrying a mail server that does not exist every five minutes; the log keeps what was due.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from atmo_provider.records.models import Cluster, SparkJob, SparkJobRun
    from atmo_provider.settings import AtmoSettings

__all__ = [
    "DEFAULT_EMAIL_BACKEND",
    "Message",
    "Sender",
    "email_configured",
    "expiration_warning",
    "run_failure_alert",
    "send_message",
]

log = logging.getLogger(__name__)

#: Airflow's default email backend; with it, email counts as configured only with a server.
DEFAULT_EMAIL_BACKEND = "airflow.utils.email.send_email_smtp"

#: Airflow's default SMTP host, which says nothing about a mail server being there.
DEFAULT_SMTP_HOST = "localhost"


@dataclass(frozen=True)
class Message:
    """One email to one owner.

    :param to: the recipient's address; empty when the owner has none on record.
    :param subject: the subject line.
    :param html: the body, HTML.
    :param owner: the owner's username, for the log.
    """

    to: str
    subject: str
    html: str
    owner: str = ""


#: Something that delivers a :class:`Message` and tells whether it really went out.
Sender = Callable[[Message], bool]


def email_configured() -> bool:
    """Tell whether Airflow's email settings name a way to send mail (see the module doc)."""
    from airflow.configuration import conf

    backend = (conf.get("email", "email_backend", fallback="") or "").strip()
    if backend and backend != DEFAULT_EMAIL_BACKEND:
        return True

    host = (conf.get("smtp", "smtp_host", fallback="") or "").strip()
    if host and host != DEFAULT_SMTP_HOST:
        return True

    conn_id = (conf.get("email", "email_conn_id", fallback="") or "").strip()
    return bool(conn_id) and _connection_exists(conn_id)


def _connection_exists(conn_id: str) -> bool:
    from airflow.sdk import BaseHook

    try:
        BaseHook.get_connection(conn_id)
    except Exception:
        return False
    return True


def send_message(message: Message) -> bool:
    """Send ``message`` through Airflow's email backend; return whether it really went out.

    Without configured email or without a recipient the message is logged instead and
    ``False`` is returned; callers record it as sent either way. Errors of the backend are
    raised, so that the caller can try again later.

    :param message: the message.
    """
    who = message.owner or message.to or "(unknown owner)"
    if not message.to:
        log.warning("No email address on record for %s; would have sent %r", who, message.subject)
        return False
    if not email_configured():
        log.warning(
            "No email configured; would have sent %r to %s <%s>", message.subject, who, message.to
        )
        return False

    from airflow.utils.email import send_email

    send_email(to=[message.to], subject=message.subject, html_content=message.html)
    log.info("Sent %r to %s <%s>", message.subject, who, message.to)
    return True


def _url(settings: AtmoSettings, path: str) -> str:
    return settings.site_url.rstrip("/") + path


def _paragraphs(*lines: str) -> str:
    return "\n".join(f"<p>{line}</p>" for line in lines)


def expiration_warning(cluster: Cluster, settings: AtmoSettings) -> Message:
    """Return the warning that ``cluster`` expires soon, with links to its page and to extend it.

    :param cluster: an active cluster with an expiry.
    :param settings: gives the site's URL.
    """
    name = html.escape(cluster.identifier)
    expires = f"{cluster.expires_at:%Y-%m-%d %H:%M} UTC" if cluster.expires_at else "soon"
    detail = html.escape(_url(settings, cluster.get_absolute_url()))
    body = _paragraphs(
        f"Hello {html.escape(cluster.created_by)},",
        f"your cluster <strong>{name}</strong> ({html.escape(cluster.jobflow_id or '-')}) "
        f"expires at {expires} and will then be terminated with everything stored on it.",
        f'To keep it longer, extend its lifetime on <a href="{detail}">its page</a> '
        f"(or with <code>airflow atmo clusters extend {cluster.id} --hours N</code>).",
        "Copy any results you want to keep to S3 before it goes.",
    )
    return Message(
        to=cluster.created_by_email,
        subject=f"Cluster {cluster.identifier} is expiring soon!",
        html=body,
        owner=cluster.created_by,
    )


def run_failure_alert(job: SparkJob, run: SparkJobRun, settings: AtmoSettings) -> Message:
    """Return the alert that a run of ``job`` failed, with EMR's reason.

    :param job: the Spark job.
    :param run: its failed run.
    :param settings: gives the site's URL.
    """
    name = html.escape(job.identifier)
    when = f"{run.scheduled_at:%Y-%m-%d %H:%M} UTC" if run.scheduled_at else "recently"
    reason = run.status_reason_message or "EMR gave no reason"
    code = f" ({html.escape(run.status_reason_code)})" if run.status_reason_code else ""
    detail = html.escape(_url(settings, job.get_absolute_url()))
    body = _paragraphs(
        f"Hello {html.escape(job.created_by)},",
        f"the run of your Spark job <strong>{name}</strong> scheduled for {when} failed on "
        f"cluster {html.escape(run.jobflow_id or '(none launched)')}: "
        f"{html.escape(run.status or 'unknown state')}{code}.",
        f"Reason: {html.escape(reason)}",
        f'The job\'s runs and logs are on <a href="{detail}">its page</a>.',
    )
    return Message(
        to=job.created_by_email,
        subject=f"Spark job {job.identifier} failed",
        html=body,
        owner=job.created_by,
    )
