"""Error pages of the tab, in its own style.

* 401: not logged in (or the login expired), with a link to Airflow's login page.
* 403: refused (an invalid token, a form without a valid CSRF token); plain ``403 Forbidden``
  when even the template cannot be rendered, as RFC 7231 allows.
* 404: missing, or not the user's to see: the same page either way.
* 400, 405, 409, 502: what went wrong and what is allowed.
* 500: an apology and nothing else: never a traceback or an exception message.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from atmo_provider.plugin.templating import render

__all__ = ["install_error_handlers", "login_url"]

log = logging.getLogger(__name__)

#: Page titles by status code.
TITLES = {
    400: "Bad request",
    401: "Please log in",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Not possible right now",
    500: "Something went wrong",
    502: "AWS did not answer as expected",
}

#: Plain-text bodies for when the error template itself fails.
PLAIN_BODIES = {403: "403 Forbidden", 500: "500 Internal Server Error"}


def login_url(next_url: str | None = None) -> str:
    """Return the auth manager's login page, or ``/`` when it cannot tell.

    :param next_url: where to go after logging in.
    """
    try:
        from airflow.api_fastapi.app import get_auth_manager

        return get_auth_manager().get_url_login(next_url=next_url)
    except Exception:
        log.debug("The auth manager gave no login URL", exc_info=True)
        return "/"


def _settings(request: Request) -> Any:
    from atmo_provider.plugin.deps import plugin_settings

    try:
        return plugin_settings(request)
    except Exception:
        log.exception("Could not read the [atmo] settings for an error page")
        from atmo_provider.settings import AtmoSettings

        return AtmoSettings(environment="")


def error_page(
    request: Request,
    status_code: int,
    message: str = "",
    headers: dict[str, str] | None = None,
) -> Response:
    """Render the error page of ``status_code``; plain text if the template fails.

    :param request: the request that failed.
    :param status_code: the HTTP status.
    :param message: what to tell the user.
    :param headers: more response headers (e.g. ``Allow``).
    """
    context = {
        "status_code": status_code,
        "title": TITLES.get(status_code, "Error"),
        "message": message,
        "login_url": login_url() if status_code == status.HTTP_401_UNAUTHORIZED else "",
    }
    try:
        return render(
            request,
            "error.html",
            context,
            settings=_settings(request),
            status_code=status_code,
            headers=headers,
        )
    except Exception:
        log.exception("Could not render the error page for status %d", status_code)
        body = PLAIN_BODIES.get(status_code, f"{status_code} {TITLES.get(status_code, 'Error')}")
        return PlainTextResponse(body, status_code=status_code, headers=headers)


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    message = exc.detail if isinstance(exc.detail, str) else ""
    if exc.status_code == status.HTTP_401_UNAUTHORIZED:
        message = "You are not logged in, or your login has expired."
    elif exc.status_code == status.HTTP_403_FORBIDDEN and message == "Invalid JWT token":
        message = "Your login is not valid; log in again."
    elif exc.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
        message = f"This page does not accept {request.method} requests."
    elif exc.status_code == status.HTTP_404_NOT_FOUND and message == "Not Found":
        message = "There is nothing here, or you may not see it."
    return error_page(request, exc.status_code, message, headers=dict(exc.headers or {}))


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    return error_page(request, status.HTTP_400_BAD_REQUEST, "The request was not understood.")


async def _server_error(request: Request, exc: Exception) -> Response:
    log.error("The ATMO tab failed on %s %s", request.method, request.url.path, exc_info=exc)
    return error_page(
        request,
        status.HTTP_500_INTERNAL_SERVER_ERROR,
        "The ATMO tab could not answer this request. It has been logged; try again later.",
    )


def install_error_handlers(app: FastAPI) -> None:
    """Make ``app`` answer errors with the tab's pages.

    :param app: the tab's FastAPI app.
    """
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _server_error)
