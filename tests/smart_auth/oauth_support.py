"""Driving medrec's authorization server over HTTP, as a browser and an app would: through
the ASGI app, redirects followed by hand."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
import uuid
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from fastapi import FastAPI
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from smart_auth.model import Client, ClientKind, Role, User
from smart_auth.services import AuthServices

ORIGIN = "http://testserver"
FHIR_BASE = f"{ORIGIN}/fhir"
TOKEN_URL = f"{ORIGIN}/auth/token"
REDIRECT_URI = "https://app.example/callback"
PASSWORD = "correct horse battery staple 42"
APP_SCOPE = (
    "openid fhirUser launch launch/patient offline_access online_access "
    "patient/*.rs patient/*.read user/*.rs user/*.read"
)
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]*)" value="([^"]*)">')


def auth(app: FastAPI) -> AuthServices:
    services: AuthServices = app.state.auth
    return services


def browser(app: FastAPI) -> httpx.AsyncClient:
    """A browser (keeps cookies) and app in one: follows no redirects by itself."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ORIGIN, timeout=60)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def new_app(
    app: FastAPI, kind: ClientKind = "public", scope: str = APP_SCOPE
) -> tuple[Client, str | None]:
    return await auth(app).clients.add("Test app", kind, [REDIRECT_URI], scope)


async def new_user(app: FastAPI, role: Role = "practitioner", fhir_user: str | None = None) -> User:
    username = f"{role}-{uuid.uuid4().hex[:8]}"
    if fhir_user is None:
        fhir_user = "Practitioner/doc-1" if role != "patient" else "Patient/pat-1"
    user, _ = await auth(app).users.add(username, PASSWORD, role, fhir_user)
    return user


async def new_patient(app: FastAPI, family: str = "Doe") -> str:
    body = {"resourceType": "Patient", "name": [{"family": family, "given": ["Jane"]}]}
    version = await app.state.services.repository.create(body, "Patient")
    return str(version.id)


def authorize_params(
    client_id: str, challenge: str | None, *, scope: str = APP_SCOPE, **extra: str
) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": scope,
        "state": "state-" + secrets.token_hex(4),
        "aud": FHIR_BASE,
    }
    if challenge is not None:
        params["code_challenge"] = challenge
        params["code_challenge_method"] = "S256"
    params.update(extra)
    return params


def form_fields(html: str, step: str) -> dict[str, str]:
    """The hidden fields of the page's form for ``step``."""
    for form in html.split("<form")[1:]:
        fields = {unescape(n): unescape(v) for n, v in _HIDDEN.findall(form)}
        if fields.get("medrec_step") == step:
            return fields
    raise AssertionError(f"no '{step}' form in the page")


def redirect_params(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def log_in(
    http: httpx.AsyncClient, params: dict[str, str], username: str, password: str = PASSWORD
) -> httpx.Response:
    """The page after logging in (at once when the browser's session is still live)."""
    page = await http.get("/auth/authorize", params=params)
    assert page.status_code == 200, page.text
    if 'value="login"' not in page.text:
        return page
    fields = form_fields(page.text, "login") | {"username": username, "password": password}
    return await http.post("/auth/authorize", data=fields)


async def consent(
    http: httpx.AsyncClient, page: httpx.Response, decision: str = "approve"
) -> httpx.Response:
    assert page.status_code == 200, page.text
    fields = form_fields(page.text, "consent") | {"decision": decision}
    return await http.post("/auth/authorize", data=fields)


async def get_code(http: httpx.AsyncClient, params: dict[str, str], user: User) -> dict[str, str]:
    """Log in, approve, and return the redirect's parameters (code, state)."""
    consent_page = await log_in(http, params, user.username)
    return redirect_params(await consent(http, consent_page))


async def redeem(
    http: httpx.AsyncClient, code: str, verifier: str | None, client_id: str, **extra: str
) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "client_id": client_id,
    }
    if verifier is not None:
        data["code_verifier"] = verifier
    data.update(extra)
    return await http.post("/auth/token", data=data)


def rsa_key() -> RSAKey:
    key = RSAKey.generate_key(2048, parameters={"alg": "RS384"})
    key.ensure_kid()
    return key


def ec_key() -> ECKey:
    key = ECKey.generate_key("P-384", parameters={"alg": "ES384"})
    key.ensure_kid()
    return key


def assertion(
    key: Any,
    client_id: str,
    *,
    alg: str = "RS384",
    aud: str = TOKEN_URL,
    lifetime: int = 240,
    jti: str | None = None,
) -> str:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "exp": now + lifetime,
        "iat": now,
        "jti": jti or uuid.uuid4().hex,
    }
    return jwt.encode({"alg": alg, "kid": key.kid, "typ": "JWT"}, claims, key, algorithms=[alg])


async def backend_client(app: FastAPI, *keys: Any, scope: str = "system/*.rs") -> Client:
    jwks = {"keys": [key.as_dict(private=False) for key in keys]}
    client, _ = await auth(app).clients.add(
        "Backend", "confidential-asymmetric", (), scope, jwks=jwks
    )
    return client


async def client_credentials(
    http: httpx.AsyncClient, signed: str, scope: str = "system/*.rs"
) -> httpx.Response:
    return await http.post(
        "/auth/token",
        data={
            "grant_type": "client_credentials",
            "scope": scope,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": signed,
        },
    )
