"""Reading what a request to ``/auth/*`` carries."""

from __future__ import annotations

import asyncio

from fastapi import HTTPException
from starlette.requests import Request

from fhir_server.api.context import fhir_base
from fhir_server.errors import Unauthorized
from smart_auth.server.authlib_adapter import RequestContext, StarletteOAuth2Request
from smart_auth.server.urls import auth_url, issuer, token_url
from smart_auth.services import auth_services
from smart_auth.tokens import Grant

FORM = "application/x-www-form-urlencoded"
MAX_FORM_FIELDS = 100


async def params(request: Request) -> list[tuple[str, str]]:
    """The OAuth parameters: the query of a GET, the form body of a POST."""
    if request.method == "GET":
        return list(request.query_params.multi_items())
    if request.headers.get("content-type", "").split(";")[0].strip() != FORM:
        raise HTTPException(415, f"Send the parameters as {FORM}")
    form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    return [(name, value) for name, value in form.multi_items() if isinstance(value, str)]


def request_context(request: Request) -> RequestContext:
    return RequestContext(
        loop=asyncio.get_running_loop(),
        issuer=issuer(request),
        audience=fhir_base(request),
        token_url=token_url(request),
        style_url=auth_url(request, "smart-style.json"),
    )


def oauth_request(request: Request, items: list[tuple[str, str]]) -> StarletteOAuth2Request:
    return StarletteOAuth2Request(request.method, str(request.url), request.headers, items)


async def bearer_grant(request: Request) -> Grant | None:
    """The grant of the request's own access token, if it carries a valid one."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        return await auth_services(request).tokens.check(token.strip(), fhir_base(request))
    except Unauthorized:
        return None
