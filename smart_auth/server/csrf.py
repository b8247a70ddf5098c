"""CSRF protection for the HTML forms: a random token in an HttpOnly SameSite=Strict cookie
that every form POST must echo in a hidden field (double submit). It works before login,
when there is no session yet to bind a token to."""

from __future__ import annotations

import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

from smart_auth.server.urls import AUTH_PATH, is_https

CSRF_COOKIE = "medrec_csrf"
CSRF_FIELD = "csrf_token"


def csrf_token(request: Request) -> tuple[str, bool]:
    """The token to put in the page's forms, and whether it is new (set the cookie)."""
    existing = request.cookies.get(CSRF_COOKIE)
    if existing and len(existing) >= 32:
        return existing, False
    return secrets.token_urlsafe(32), True


def set_csrf_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        CSRF_COOKIE,
        token,
        path=AUTH_PATH,
        httponly=True,
        samesite="strict",
        secure=is_https(request),
    )


def csrf_ok(request: Request, submitted: str | None) -> bool:
    expected = request.cookies.get(CSRF_COOKIE)
    if not expected or not submitted:
        return False
    return hmac.compare_digest(expected.encode(), submitted.encode())
