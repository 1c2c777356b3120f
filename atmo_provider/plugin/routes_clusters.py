"""Cluster pages: detail (view), extend the lifetime (change), terminate (delete).

A cluster that is missing and one the user may not act on get the same 404. Actions are POSTs
with a CSRF token and answer with a redirect to the detail page.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Path, Request, status
from fastapi.responses import HTMLResponse, Response

from atmo_provider.plugin.csrf import CSRF_FIELD
from atmo_provider.plugin.routing import (
    CsrfDep,
    EngineDep,
    ProvisionerDep,
    SettingsDep,
    UserDep,
    bad_request,
    conflict,
    not_found,
    object_id,
    page,
    redirect_after_post,
)
from atmo_provider.plugin.templating import base_path
from atmo_provider.plugin.urls import action_url, route_path
from atmo_provider.records.db import session_scope
from atmo_provider.records.models import READY_STATUSES, STATUS_TERMINATING, Cluster
from atmo_provider.records.permissions import get_object_or_none, has_permission
from atmo_provider.settings import AtmoSettings

__all__ = ["accepts_actions", "parse_extension_hours", "router"]

log = logging.getLogger(__name__)

router = APIRouter()

IdParam = Annotated[str, Path(alias="id")]
TokenField = Annotated[str, Form(alias=CSRF_FIELD)]


def parse_extension_hours(raw: str, settings: AtmoSettings) -> int:
    """Return the hours of a lifetime extension; 400 unless a whole number in range.

    :param raw: the form field's value.
    :param settings: gives the allowed range (``min_cluster_lifetime``..``max_cluster_lifetime``).
    """
    low, high = settings.min_cluster_lifetime, settings.max_cluster_lifetime
    allowed = f"a whole number of hours from {low} to {high}"
    text = (raw or "").strip()
    digits = text.removeprefix("-")
    if not (digits.isascii() and digits.isdigit()):
        raise bad_request(f"The extension must be {allowed}, got {text or 'nothing'!r}.")
    hours = int(text)
    if not low <= hours <= high:
        raise bad_request(f"The extension must be {allowed}, got {hours}.")
    return hours


def accepts_actions(cluster: Cluster) -> bool:
    """Tell whether a cluster may be extended or terminated: active and not terminating.

    :param cluster: the cluster.
    """
    return cluster.is_active and cluster.most_recent_status != STATUS_TERMINATING


def _refuse_unless_accepting(cluster: Cluster, doing: str) -> None:
    if cluster.most_recent_status == STATUS_TERMINATING:
        raise conflict(f"This cluster is being terminated; it can no longer be {doing}.")
    if not cluster.is_active:
        raise conflict(
            f"Only active clusters can be {doing}; this one is "
            f"{cluster.most_recent_status or 'not started'}."
        )


def ssh_commands(cluster: Cluster) -> dict[str, str]:
    """Return the SSH commands of a ready cluster with a master address; empty otherwise.

    :param cluster: the cluster.
    """
    if cluster.most_recent_status not in READY_STATUSES or not cluster.master_address:
        return {}
    host = f"hadoop@{cluster.master_address}"
    return {
        "shell": f"ssh {host}",
        "spark_ui": f"ssh -N -L 18080:localhost:18080 {host}",
    }


@router.api_route(
    route_path("clusters-detail"),
    methods=["GET", "HEAD"],
    response_class=HTMLResponse,
    name="clusters-detail",
)
def cluster_detail(
    request: Request,
    cluster_id: IdParam,
    user: UserDep,
    settings: SettingsDep,
    engine: EngineDep,
    csrf: CsrfDep,
) -> Response:
    """Show a cluster the user may view."""
    with session_scope(engine) as session:
        cluster = get_object_or_none(
            session, Cluster, "view", user.username, user.roles, id=object_id(cluster_id)
        )
        if cluster is None:
            raise not_found()
        can_change = has_permission(session, user.username, user.roles, "change", cluster)
        can_delete = has_permission(session, user.username, user.roles, "delete", cluster)

    base = base_path(request)
    context = {
        "cluster": cluster,
        "can_extend": can_change and accepts_actions(cluster),
        "can_terminate": can_delete and accepts_actions(cluster),
        "extend_url": action_url(cluster, "extend", base),
        "terminate_url": action_url(cluster, "terminate", base),
        "ssh": ssh_commands(cluster),
        "modified_date": cluster.modified_at,
    }
    return page(request, "clusters/detail.html", context, settings=settings, user=user, csrf=csrf)


@router.post(route_path("clusters-extend"), name="clusters-extend")
def extend_cluster(
    request: Request,
    cluster_id: IdParam,
    user: UserDep,
    settings: SettingsDep,
    engine: EngineDep,
    csrf: CsrfDep,
    hours: Annotated[str, Form()] = "",
    token: TokenField = "",
) -> Response:
    """Push an active cluster's expiry back by 2 to 24 hours (the configured range)."""
    csrf.check(request, token, user)
    extension = parse_extension_hours(hours, settings)

    with session_scope(engine) as session:
        cluster = get_object_or_none(
            session, Cluster, "change", user.username, user.roles, id=object_id(cluster_id)
        )
        if cluster is None:
            raise not_found()
        _refuse_unless_accepting(cluster, "extended")
        cluster.extend(extension)
        session.flush()

    log.info(
        "User %s extended cluster %s (%s) by %d hours, now expiring at %s",
        user.username,
        cluster.id,
        cluster.jobflow_id or cluster.identifier,
        extension,
        cluster.expires_at,
    )
    return redirect_after_post(action_url(cluster, "detail", base_path(request)), "extended")


@router.post(route_path("clusters-terminate"), name="clusters-terminate")
def terminate_cluster(
    request: Request,
    cluster_id: IdParam,
    user: UserDep,
    engine: EngineDep,
    csrf: CsrfDep,
    provisioner: ProvisionerDep,
    token: TokenField = "",
) -> Response:
    """Terminate an active cluster on EMR and mark it as terminating."""
    csrf.check(request, token, user)
    record_id = object_id(cluster_id)

    with session_scope(engine) as session:
        cluster = get_object_or_none(
            session, Cluster, "delete", user.username, user.roles, id=record_id
        )
        if cluster is None:
            raise not_found()
        _refuse_unless_accepting(cluster, "terminated")
        if not cluster.jobflow_id:
            raise conflict("This cluster has no EMR cluster yet; try again once it is starting.")
        jobflow_id = cluster.jobflow_id
        detail_url = action_url(cluster, "detail", base_path(request))

    # The EMR call happens outside any records transaction, so that no lock waits for AWS.
    try:
        provisioner.stop(jobflow_id)
    except Exception:
        log.exception("Could not terminate cluster %s for user %s", jobflow_id, user.username)
        raise HTTPException(
            status_code=status.HTTP_502_BAD_GATEWAY,
            detail=f"EMR did not accept the termination of {jobflow_id}; try again in a minute.",
        ) from None

    with session_scope(engine) as session:
        cluster = session.get(Cluster, record_id)
        if cluster is not None and cluster.is_active:
            cluster.most_recent_status = STATUS_TERMINATING
            session.flush()

    log.info("User %s terminated cluster %s (record %s)", user.username, jobflow_id, record_id)
    return redirect_after_post(detail_url, "terminating")
