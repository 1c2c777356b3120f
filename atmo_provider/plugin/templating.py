"""The tab's Jinja templates: environment, filters, shared context and rendering.

Filters:

* ``full_url``: a path joined to the configured ``site_url`` (for links that leave the tab).
* ``markdown``: Markdown rendered to HTML, then sanitized with nh3 (no scripts, no event
  handler attributes, only http, https and mailto links), marked safe.
* ``url_update(url, **params)``: ``url`` with some query parameters replaced (``None``
  removes one); also a global function.
* ``when``: a timestamp as ``2024-05-01 14:03 UTC``, or a dash.
* ``interval``: a job's run interval in hours as ``daily``, ``weekly``, ``monthly`` or
  ``every 6 hours``; ``status_class``: the CSS class of an EMR state's badge.

Every page gets ``settings``, ``version`` (the provider's), ``user``, ``base`` (the app's
mount path), ``url(obj, action)`` (the path of an action on a record), ``csrf_token`` and
``dragons``: the "Here be dragons" banner, shown when the
configured environment names a development or staging install (it contains ``dev`` or
``stag``) or, as ATMO did, when the host name contains ``stag``, ``dev`` or ``localhost``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from markupsafe import Markup

from atmo_provider import __version__
from atmo_provider.plugin.csrf import CSRF_COOKIE, CSRF_FIELD
from atmo_provider.plugin.headers import (
    MODIFIED_DATE_CONTEXT_KEY,
    SECURITY_HEADERS,
    format_modified_date,
    modified_date_headers,
)
from atmo_provider.plugin.urls import action_url
from atmo_provider.records.models import (
    ACTIVE_STATUSES,
    FAILED_STATUSES,
    FINAL_STATUSES,
    READY_STATUSES,
)

if TYPE_CHECKING:
    from atmo_provider.plugin.auth import CurrentUser
    from atmo_provider.plugin.csrf import CsrfProtection
    from atmo_provider.settings import AtmoSettings

__all__ = [
    "STATIC_DIR",
    "TEMPLATES_DIR",
    "base_path",
    "environment",
    "full_url",
    "render",
    "render_markdown",
    "shows_dragons",
    "url_update",
]

#: The folder of the Jinja templates.
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

#: The folder of the CSS and JavaScript files.
STATIC_DIR = Path(__file__).resolve().parent / "static"

#: Words in the environment name that mean "not production".
NON_PRODUCTION_ENVIRONMENT_WORDS = ("dev", "stag")

#: Words in the host name that mean "not production".
NON_PRODUCTION_HOST_WORDS = ("stag", "dev", "localhost")

#: The banner of development and staging installs.
DRAGONS_MESSAGE = (
    "Here be dragons, for those bold enough to break systems and lose data: "
    "this install is under development and may not be stable."
)

#: HTML tags Markdown output may keep.
MARKDOWN_TAGS = frozenset(
    {
        "a",
        "abbr",
        "b",
        "blockquote",
        "br",
        "code",
        "dd",
        "del",
        "dl",
        "dt",
        "em",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "img",
        "li",
        "ol",
        "p",
        "pre",
        "strong",
        "sub",
        "sup",
        "table",
        "tbody",
        "td",
        "th",
        "thead",
        "tr",
        "ul",
    }
)

#: Attributes Markdown output may keep, by tag; event handlers are never among them.
MARKDOWN_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "img": {"src", "alt", "title"},
    "td": {"align"},
    "th": {"align"},
}

#: URL schemes links and images in Markdown may use.
MARKDOWN_URL_SCHEMES = frozenset({"http", "https", "mailto"})


def render_markdown(text: str | None) -> Markup:
    """Render Markdown to sanitized HTML, safe to put in a page.

    Raw HTML in the text goes through the same sanitizer: ``<script>`` and ``<style>`` go with
    their content, attributes such as ``onerror`` go, ``javascript:`` links lose their target.

    :param text: Markdown source; ``None`` renders as nothing.
    """
    import markdown
    import nh3

    html = markdown.markdown(text or "", extensions=["extra", "sane_lists"])
    cleaned = nh3.clean(
        html,
        tags=set(MARKDOWN_TAGS),
        attributes={tag: set(names) for tag, names in MARKDOWN_ATTRIBUTES.items()},
        url_schemes=set(MARKDOWN_URL_SCHEMES),
        link_rel="noopener noreferrer nofollow",
    )
    return Markup(cleaned)


def url_update(url: str, **params: Any) -> str:
    """Return ``url`` with the query parameters ``params`` set; ``None`` removes one.

    :param url: a URL or path, possibly with a query string.
    :param params: the parameters to set.
    """
    parts = urlsplit(url)
    query = [(key, value) for key, value in parse_qsl(parts.query) if key not in params]
    query.extend((key, str(value)) for key, value in params.items() if value is not None)
    return urlunsplit(parts._replace(query=urlencode(query)))


def full_url(path: str, site_url: str) -> str:
    """Return ``path`` joined to ``site_url``; a full URL is returned as it is.

    :param path: a path such as ``/atmo/clusters/12``.
    :param site_url: the public URL of the Airflow UI.
    """
    return urljoin(site_url.rstrip("/") + "/", path.lstrip("/")) if path else site_url


def format_when(value: datetime | None) -> str:
    """Return ``value`` as ``2024-05-01 14:03 UTC``; a dash for ``None``.

    :param value: a timestamp; naive ones are taken to be in UTC.
    """
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def format_interval(hours: int | None) -> str:
    """Return a run interval in hours in words: ``daily``, ``weekly``, ``every 6 hours``.

    :param hours: the interval in hours.
    """
    if not hours:
        return "—"
    names = {24: "daily", 24 * 7: "weekly", 24 * 30: "monthly"}
    return names.get(hours, f"every {hours} hours")


def status_class(status: str | None) -> str:
    """Return the CSS class of the badge of an EMR cluster state.

    :param status: an EMR state such as ``WAITING``; empty before the first one.
    """
    if status in READY_STATUSES:
        return "status-ready"
    if status in FAILED_STATUSES:
        return "status-failed"
    if status in FINAL_STATUSES:
        return "status-ended"
    if status in ACTIVE_STATUSES:
        return "status-pending"
    return "status-none"


def shows_dragons(environment: str, host: str) -> bool:
    """Tell whether the "Here be dragons" banner shows.

    :param environment: the configured environment, e.g. ``prod``, ``stage``, ``dev``.
    :param host: the host name of the request.
    """
    environment = (environment or "").lower()
    host = (host or "").lower()
    return any(word in environment for word in NON_PRODUCTION_ENVIRONMENT_WORDS) or any(
        word in host for word in NON_PRODUCTION_HOST_WORDS
    )


@pass_context
def _full_url_filter(context: Mapping[str, Any], path: str) -> str:
    return full_url(path, context["settings"].site_url)


@cache
def environment() -> Environment:
    """Return the Jinja environment of the tab's templates (one per process)."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["full_url"] = _full_url_filter
    env.filters["markdown"] = render_markdown
    env.filters["url_update"] = url_update
    env.filters["when"] = format_when
    env.filters["interval"] = format_interval
    env.filters["status_class"] = status_class
    env.globals["url_update"] = url_update
    return env


def base_path(request: Request) -> str:
    """Return the path the app is mounted at, e.g. ``/atmo``; ``""`` at the root."""
    return (request.scope.get("root_path") or "").rstrip("/")


def _host(request: Request) -> str:
    return (request.headers.get("host") or request.url.hostname or "").split(":")[0]


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    settings: AtmoSettings,
    user: CurrentUser | None = None,
    csrf: CsrfProtection | None = None,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Render ``template`` with the shared context; a HEAD request gets the headers only.

    The response carries ``X-ATMO-Modified-Date`` when the context has a ``modified_date``.

    :param request: the request being answered.
    :param template: the template's name, e.g. ``dashboard.html``.
    :param context: the page's own variables.
    :param settings: the provider's settings.
    :param user: the logged-in user; forms need one.
    :param csrf: the :class:`~atmo_provider.plugin.csrf.CsrfProtection` for the forms.
    :param status_code: the response status.
    :param headers: more response headers.
    """
    response_headers = {**SECURITY_HEADERS, **modified_date_headers(context), **(headers or {})}
    if request.method == "HEAD":
        return Response(status_code=status_code, headers=response_headers)

    nonce, new_nonce = (None, False)
    csrf_token = ""
    if csrf is not None and user is not None:
        nonce, new_nonce = csrf.nonce(request)
        csrf_token = csrf.token(user.username, nonce)

    modified = context.get(MODIFIED_DATE_CONTEXT_KEY)
    base = base_path(request)
    full_context = {
        "request": request,
        "settings": settings,
        "version": __version__,
        "user": user,
        "base": base,
        "url": lambda obj, action: action_url(obj, action, base),
        "csrf_field": CSRF_FIELD,
        "csrf_token": csrf_token,
        "dragons": DRAGONS_MESSAGE if shows_dragons(settings.environment, _host(request)) else "",
        "polls": MODIFIED_DATE_CONTEXT_KEY in context,
        "refresh_url": url_update(f"{request.url.path}?{request.url.query}", done=None),
        "modified_date_iso": format_modified_date(modified) if modified else "",
        **context,
    }
    html = environment().get_template(template).render(full_context)
    response = HTMLResponse(html, status_code=status_code, headers=response_headers)

    if new_nonce:
        response.set_cookie(
            CSRF_COOKIE,
            nonce,
            path=f"{base}/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
    return response
