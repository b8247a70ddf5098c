"""SMART Backend Services: client_credentials with private_key_jwt assertions. Each test
names the Inferno Backend Services (bulk data authorization) check it mirrors."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid

from fastapi import FastAPI

from tests.smart_auth.oauth_support import (
    FHIR_BASE,
    TOKEN_URL,
    assertion,
    auth,
    backend_client,
    browser,
    client_credentials,
    ec_key,
    rsa_key,
)


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_rs384_assertion(app: FastAPI) -> None:
    """Inferno backend_services "Authorization request succeeds when supplied correct
    information" and "Authorization request response body contains required information
    encoded in JSON" (RS384)."""
    key = rsa_key()
    client = await backend_client(app, key)
    async with browser(app) as http:
        response = await client_credentials(http, assertion(key, client.client_id))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["token_type"] == "Bearer"
        assert body["scope"] == "system/*.rs"
        assert body["expires_in"] <= 300 or body["expires_in"] > 0
        assert "refresh_token" not in body
        search = await http.get(
            "/fhir/Patient", headers={"Authorization": f"Bearer {body['access_token']}"}
        )
    assert search.status_code == 200, search.text
    grant = await auth(app).tokens.check(body["access_token"], FHIR_BASE)
    assert (grant.subject, grant.client_id, grant.role) == (
        client.client_id,
        client.client_id,
        None,
    )


async def test_es384_assertion(app: FastAPI) -> None:
    """Inferno backend_services: the same with an ES384-signed assertion."""
    key = ec_key()
    client = await backend_client(app, key)
    async with browser(app) as http:
        response = await client_credentials(http, assertion(key, client.client_id, alg="ES384"))
    assert response.status_code == 200, response.text


async def test_replayed_jti_is_refused(app: FastAPI) -> None:
    """Inferno backend_services: a jti is never accepted twice."""
    key = rsa_key()
    client = await backend_client(app, key)
    signed = assertion(key, client.client_id)
    async with browser(app) as http:
        assert (await client_credentials(http, signed)).status_code == 200
        again = await client_credentials(http, signed)
        same_jti = assertion(
            key,
            client.client_id,
            jti=json.loads(base64.urlsafe_b64decode(signed.split(".")[1] + "=="))["jti"],
        )
        fresh_copy = await client_credentials(http, same_jti)
    assert again.status_code == 400 and again.json()["error"] == "invalid_client"
    assert fresh_copy.json()["error"] == "invalid_client"


async def test_assertion_living_too_long_is_refused(app: FastAPI) -> None:
    """Inferno backend_services: exp more than five minutes ahead is refused."""
    key = rsa_key()
    client = await backend_client(app, key)
    async with browser(app) as http:
        response = await client_credentials(http, assertion(key, client.client_id, lifetime=600))
    assert response.json()["error"] == "invalid_client"


async def test_expired_assertion_is_refused(app: FastAPI) -> None:
    """Inferno backend_services: an expired assertion."""
    key = rsa_key()
    client = await backend_client(app, key)
    async with browser(app) as http:
        response = await client_credentials(http, assertion(key, client.client_id, lifetime=-120))
    assert response.json()["error"] == "invalid_client"


async def test_alg_none_is_refused(app: FastAPI) -> None:
    """Inferno backend_services: "Authorization request fails when client supplies invalid
    JWT" — here an unsigned one (alg none)."""
    key = rsa_key()
    client = await backend_client(app, key)
    now = int(time.time())
    claims = {
        "iss": client.client_id,
        "sub": client.client_id,
        "aud": TOKEN_URL,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
    }
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    async with browser(app) as http:
        response = await client_credentials(http, unsigned)
    assert response.json()["error"] == "invalid_client"


async def test_hs256_with_public_key_as_secret_is_refused(app: FastAPI) -> None:
    """Algorithm confusion: HS256 signed with the client's public key as the HMAC secret."""
    key = rsa_key()
    client = await backend_client(app, key)
    public_pem = key.as_pem(private=False)  # joserfc refuses to do this: by hand
    now = int(time.time())
    claims = {
        "iss": client.client_id,
        "sub": client.client_id,
        "aud": TOKEN_URL,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
    }
    signing_input = f"{_b64({'alg': 'HS256', 'kid': key.kid})}.{_b64(claims)}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    async with browser(app) as http:
        response = await client_credentials(http, forged)
    assert response.json()["error"] == "invalid_client"


async def test_wrong_aud_is_refused(app: FastAPI) -> None:
    """Inferno backend_services: "Authorization request fails when supplied invalid aud"."""
    key = rsa_key()
    client = await backend_client(app, key)
    signed = assertion(key, client.client_id, aud="https://elsewhere.example/token")
    async with browser(app) as http:
        response = await client_credentials(http, signed)
    assert response.json()["error"] == "invalid_client"


async def test_key_not_registered_is_refused(app: FastAPI) -> None:
    """Inferno backend_services: an assertion signed by a key the client did not register."""
    client = await backend_client(app, rsa_key())
    other = rsa_key()
    async with browser(app) as http:
        response = await client_credentials(http, assertion(other, client.client_id))
    assert response.json()["error"] == "invalid_client"


async def test_only_system_scopes(app: FastAPI) -> None:
    """Inferno backend_services: "Authorization request fails when requested scope is
    invalid" — backend services get system/ scopes only, within their registration."""
    key = rsa_key()
    client = await backend_client(app, key, scope="system/*.rs user/*.rs")
    async with browser(app) as http:
        user_scope = await client_credentials(
            http, assertion(key, client.client_id), scope="user/*.rs"
        )
        wider = await client_credentials(
            http, assertion(key, client.client_id), scope="system/*.cruds"
        )
        narrower = await client_credentials(
            http, assertion(key, client.client_id), scope="system/Observation.rs user/*.rs"
        )
    assert user_scope.json()["error"] == "invalid_scope"
    assert wider.json()["error"] == "invalid_scope"
    assert narrower.json()["scope"] == "system/Observation.rs"


async def test_backend_client_cannot_use_client_secret(app: FastAPI) -> None:
    """Inferno backend_services: client_credentials without an assertion is refused."""
    await backend_client(app, rsa_key())
    async with browser(app) as http:
        response = await http.post(
            "/auth/token", data={"grant_type": "client_credentials", "scope": "system/*.rs"}
        )
    assert response.json()["error"] == "invalid_client"
