"""What the tab's route modules share: dependency shorthands, responses and notices."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.engine import Engine

from atmo_provider.plugin.auth import CurrentUser, current_user
from atmo_provider.plugin.csrf import CsrfProtection
from atmo_provider.plugin.dags import AirflowDags
from atmo_provider.plugin.deps import (
    airflow_dags,
    cluster_provisioner,
    csrf_protection,
    plugin_settings,
    records_engine,
)
from atmo_provider.plugin.templating import render, url_update
from atmo_provider.settings import AtmoSettings

__all__ = [
    "NOTICES",
    "CsrfDep",
    "DagsDep",
    "EngineDep",
    "ProvisionerDep",
    "SettingsDep",
    "UserDep",
    "bad_request",
    "conflict",
    "not_found",
    "object_id",
    "page",
    "redirect_after_post",
]

UserDep = Annotated[CurrentUser, Depends(current_user)]
SettingsDep = Annotated[AtmoSettings, Depends(plugin_settings)]
EngineDep = Annotated[Engine, Depends(records_engine)]
DagsDep = Annotated[AirflowDags, Depends(airflow_dags)]
CsrfDep = Annotated[CsrfProtection, Depends(csrf_protection)]
ProvisionerDep = Annotated[Any, Depends(cluster_provisioner)]

#: Messages shown after an action, by the ``done`` query parameter of the page it led to.
NOTICES: Mapping[str, str] = {
    "extended": "The cluster's lifetime was extended.",
    "terminating": "The cluster is being terminated.",
    "run-started": "A run of the Spark job was started; it shows here once its cluster starts.",
    "paused": "The Spark job was paused: no scheduled run starts until it is resumed.",
    "resumed": "The Spark job was resumed.",
    "deleted": "The Spark job was deleted and its DAG paused; its spec file was left alone.",
}

#: The one answer for objects that are missing and for objects the user may not see.
NOT_FOUND_DETAIL = "There is nothing here, or you may not see it."


def not_found() -> HTTPException:
    """Return the 404 of a missing object, which is also that of a forbidden one."""
    return HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=NOT_FOUND_DETAIL)


def bad_request(message: str) -> HTTPException:
    """Return a 400 for form input the user can correct.

    :param message: what was wrong and what is allowed.
    """
    return HTTPException(status_code=status.HTTP_400_BAD_REQUEST, detail=message)


def conflict(message: str) -> HTTPException:
    """Return a 409 for an action the object's state does not allow now.

    :param message: why, and what the user can do.
    """
    return HTTPException(status_code=status.HTTP_409_CONFLICT, detail=message)


def object_id(value: str) -> int:
    """Return the record id of a path parameter; 404 unless it is a positive integer.

    :param value: the path parameter.
    """
    if not (value.isascii() and value.isdigit()) or len(value) > 18 or int(value) < 1:
        raise not_found()
    return int(value)


def page(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    settings: AtmoSettings,
    user: CurrentUser,
    csrf: CsrfProtection,
) -> Response:
    """Render a page of the tab for the logged-in user, with its notice and form token.

    :param request: the request being answered.
    :param template: the template's name.
    :param context: the page's own variables.
    :param settings: the provider's settings.
    :param user: the logged-in user.
    :param csrf: issues the form token.
    """
    notice = NOTICES.get(request.query_params.get("done", ""), "")
    return render(
        request,
        template,
        {"notice": notice, **context},
        settings=settings,
        user=user,
        csrf=csrf,
    )


def redirect_after_post(path: str, done: str) -> RedirectResponse:
    """Send the browser to ``path`` with a GET, showing the notice ``done`` there.

    :param path: the page to show next.
    :param done: a key of :data:`NOTICES`.
    """
    return RedirectResponse(url_update(path, done=done), status_code=status.HTTP_303_SEE_OTHER)
