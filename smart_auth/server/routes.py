"""HTTP for the authorization server: ``/auth/*`` (``router``) and the discovery documents
(``wellknown_router``). Thin: the work is in the modules each handler names."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Error
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from fhir_server.api.context import FHIR_PATH, fhir_base
from fhir_server.errors import Unauthorized
from smart_auth.keys import public_jwks
from smart_auth.server import authorize as authorize_flow
from smart_auth.server.authlib_adapter import in_thread
from smart_auth.server.authorization_server import NO_STORE, authorization_server
from smart_auth.server.client_model import PRIVATE_KEY_JWT, OAuthClient
from smart_auth.server.codes import LaunchContext
from smart_auth.server.discovery import openid_configuration, smart_configuration
from smart_auth.server.patients import app_repository, patient_exists
from smart_auth.server.requests import bearer_grant, oauth_request, params, request_context
from smart_auth.server.urls import AUTH_PATH
from smart_auth.services import auth_services

router = APIRouter(prefix=AUTH_PATH, tags=["SMART authorization"])
wellknown_router = APIRouter(tags=["SMART authorization"])

CONFIDENTIAL_METHODS = ["client_secret_basic", "client_secret_post", PRIVATE_KEY_JWT]
LAUNCHERS = frozenset({"admin", "practitioner", "staff"})
STYLE = {
    "color_background": "#f6f7f9",
    "color_highlight": "#1d5fa8",
    "color_modal_backdrop": "",
    "color_shadow": "",
    "dim_border_radius": "6px",
    "dim_font_size": "14px",
    "dim_spacing_size": "16px",
    "font_family_body": "system-ui, sans-serif",
    "font_family_heading": "system-ui, sans-serif",
}


def _json(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(body, status, NO_STORE)


# GET and POST as two routes: one route with both methods gets a random OpenAPI operation id.
@router.get("/authorize", summary="authorization endpoint")
async def authorize_get(request: Request) -> Response:
    return await authorize(request)


@router.post("/authorize", summary="authorization endpoint (form post)")
async def authorize_post(request: Request) -> Response:
    return await authorize(request)


async def authorize(request: Request) -> Response:
    server = await authorization_server(request)
    original, form = authorize_flow.split(await params(request))
    oauth = oauth_request(request, original)
    return await authorize_flow.authorize(request, server, request_context(request), oauth, form)


@router.post("/token", summary="token endpoint")
async def token(request: Request) -> Response:
    server = await authorization_server(request)
    oauth = oauth_request(request, await params(request))
    response: Response = await in_thread(
        request_context(request), server.create_token_response, oauth
    )
    return response


async def _client(request: Request, methods: list[str]) -> OAuthClient | None:
    """The client authenticating the request with one of ``methods``, if any."""
    server = await authorization_server(request)
    oauth = oauth_request(request, await params(request))
    try:
        client: OAuthClient = await in_thread(
            request_context(request), server.authenticate_client, oauth, methods, "token"
        )
    except OAuth2Error:
        return None
    return client


@router.post("/introspect", summary="token introspection (RFC 7662)")
async def introspect(request: Request) -> Response:
    caller = await bearer_grant(request)
    if (caller is None or caller.role != "admin") and await _client(
        request, CONFIDENTIAL_METHODS
    ) is None:
        return _json({"error": "invalid_client"}, 401)
    token = dict(await params(request)).get("token", "")
    services_ = auth_services(request)
    claims = await services_.tokens.active(token) if token else None
    if claims is not None:
        return _json({"active": True, "token_type": "Bearer", **claims})
    server = await authorization_server(request)
    refresh = await server.refresh.find(token) if token else None
    if refresh is not None:
        return _json(
            {
                "active": True,
                "token_type": "refresh_token",
                "scope": refresh.scope,
                "client_id": refresh.client_id,
                "sub": refresh.user_id,
            }
        )
    return _json({"active": False})


@router.post("/revoke", summary="token revocation (RFC 7009)")
async def revoke(request: Request) -> Response:
    client = await _client(request, [*CONFIDENTIAL_METHODS, "none"])
    if client is None:
        return _json({"error": "invalid_client"}, 401)
    token = dict(await params(request)).get("token")
    if not token:
        return _json({"error": "invalid_request"}, 400)
    tokens = auth_services(request).tokens
    server = await authorization_server(request)
    try:
        claims: dict[str, Any] | None = tokens.claims(token)
    except Unauthorized:  # not a live access token of ours: perhaps a refresh token
        claims = None
    if claims is not None:
        if claims["client_id"] != client.client_id:
            return _json({"error": "unauthorized_client"}, 400)
        await tokens.revoke(token)
    elif (refresh := await server.refresh.find(token)) is not None:
        if refresh.client_id != client.client_id:
            return _json({"error": "unauthorized_client"}, 400)
        await server.refresh.revoke_family(refresh.family)
    return _json({})  # RFC 7009 §2.2: unknown tokens too


@router.post("/launch", summary="create an EHR launch context")
async def launch(request: Request) -> Response:
    caller = await bearer_grant(request)
    if caller is None or caller.role not in LAUNCHERS:
        return _json({"error": "a practitioner's or an admin's access token is needed"}, 401)
    try:
        body = await request.json()
    except ValueError:
        body = None
    patient = body.get("patient") if isinstance(body, dict) else None
    encounter = body.get("encounter") if isinstance(body, dict) else None
    repository = app_repository(request)
    if not isinstance(patient, str) or not await patient_exists(repository, patient):
        return _json({"error": "'patient' must name an existing Patient"}, 400)
    if encounter is not None and not isinstance(encounter, str):
        return _json({"error": "'encounter' must be an Encounter id"}, 400)
    server = await authorization_server(request)
    value = await server.launches.create(LaunchContext(patient, encounter), caller.subject)
    return _json({"launch": value, "iss": fhir_base(request)}, 201)


@router.get("/jwks", summary="the server's public signing keys")
async def jwks(request: Request) -> Response:
    return JSONResponse(public_jwks(auth_services(request).key))


@router.get("/smart-style.json", summary="the style apps may adopt (smart_style_url)")
async def style() -> Response:
    return JSONResponse(STYLE)


@wellknown_router.get(f"{FHIR_PATH}/.well-known/smart-configuration", summary="SMART discovery")
@wellknown_router.get("/.well-known/smart-configuration", include_in_schema=False)
async def smart_config(request: Request) -> Response:
    return JSONResponse(smart_configuration(request))


@wellknown_router.get(f"{FHIR_PATH}/.well-known/openid-configuration", summary="OpenID discovery")
@wellknown_router.get("/.well-known/openid-configuration", include_in_schema=False)
async def openid_config(request: Request) -> Response:
    return JSONResponse(openid_configuration(request))
