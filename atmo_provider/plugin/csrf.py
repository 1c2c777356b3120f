"""Protection of the tab's forms against requests made by other sites.

Double submit, bound to the user: a page sets a random nonce in the cookie ``atmo_csrf`` and
puts ``sign(username, nonce)`` in a hidden form field. A POST is accepted only when the
signature is valid and fresh, names the current user and carries the nonce of the cookie.
Another site can neither read the cookie nor forge the signature. The secret is Airflow's
``[api] secret_key`` (``[api_auth] jwt_secret`` without it); see
:func:`atmo_provider.plugin.deps.csrf_protection`.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import TYPE_CHECKING

from fastapi import HTTPException, Request, status
from itsdangerous import BadSignature, URLSafeTimedSerializer

if TYPE_CHECKING:
    from atmo_provider.plugin.auth import CurrentUser

__all__ = ["CSRF_COOKIE", "CSRF_FIELD", "CSRF_MAX_AGE", "CsrfProtection"]

log = logging.getLogger(__name__)

#: The cookie holding the CSRF nonce.
CSRF_COOKIE = "atmo_csrf"

#: The form field holding the signed CSRF token.
CSRF_FIELD = "csrf_token"

#: Seconds a form stays valid after its page was rendered.
CSRF_MAX_AGE = 12 * 3600

_CSRF_SALT = "atmo-provider.plugin.csrf"


class CsrfProtection:
    """Issue and check the CSRF tokens of the tab's forms.

    :param secret: the signing secret.
    :param max_age: seconds a token stays valid.
    """

    def __init__(self, secret: str, max_age: int = CSRF_MAX_AGE) -> None:
        if not secret:
            raise ValueError("the CSRF secret must not be empty")
        self._serializer = URLSafeTimedSerializer(secret, salt=_CSRF_SALT)
        self.max_age = max_age

    @staticmethod
    def nonce(request: Request) -> tuple[str, bool]:
        """Return the request's CSRF nonce and whether it is new (then set it as a cookie).

        :param request: the request being answered.
        """
        existing = request.cookies.get(CSRF_COOKIE, "")
        if 16 <= len(existing) <= 64 and existing.replace("-", "").replace("_", "").isalnum():
            return existing, False
        return secrets.token_urlsafe(24), True

    def token(self, username: str, nonce: str) -> str:
        """Return the form token of ``username`` for the cookie nonce ``nonce``.

        :param username: the logged-in user.
        :param nonce: the value of the CSRF cookie.
        """
        return self._serializer.dumps({"u": username, "n": nonce})

    def is_valid(self, token: str | None, username: str, nonce: str | None) -> bool:
        """Tell whether ``token`` was issued to ``username`` for ``nonce`` and is fresh.

        :param token: the form field's value.
        :param username: the logged-in user.
        :param nonce: the value of the CSRF cookie.
        """
        if not token or not nonce:
            return False
        try:
            payload = self._serializer.loads(token, max_age=self.max_age)
        except BadSignature:
            return False
        if not isinstance(payload, dict):
            return False
        return hmac.compare_digest(str(payload.get("u", "")), username) and hmac.compare_digest(
            str(payload.get("n", "")), nonce
        )

    def check(self, request: Request, token: str | None, user: CurrentUser) -> None:
        """Raise 403 unless the form token of ``request`` is valid for ``user``.

        :param request: the POST request.
        :param token: the form field's value.
        :param user: the logged-in user.
        """
        if self.is_valid(token, user.username, request.cookies.get(CSRF_COOKIE)):
            return
        log.warning(
            "Refused %s %s of user %s: missing or invalid CSRF token",
            request.method,
            request.url.path,
            user.username,
        )
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail=(
                "This form has expired or did not come from this page. "
                "Reload the page and try again."
            ),
        )
