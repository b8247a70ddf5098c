"""The token endpoint (authorization_code, refresh_token), introspection and revocation.
Each test names the Inferno SMART App Launch STU2 check it mirrors."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from joserfc import jwt
from joserfc.jwk import KeySet

from fhir_server.errors import Unauthorized
from smart_auth.model import Client, User
from tests.smart_auth.oauth_support import (
    FHIR_BASE,
    REDIRECT_URI,
    auth,
    authorize_params,
    browser,
    get_code,
    new_app,
    new_user,
    pkce,
    redeem,
)

SCOPE = "openid fhirUser offline_access user/*.rs"


async def _code(
    http: httpx.AsyncClient, client: Client, user: User, scope: str = SCOPE
) -> tuple[str, str]:
    verifier, challenge = pkce()
    back = await get_code(http, authorize_params(client.client_id, challenge, scope=scope), user)
    return back["code"], verifier


async def _tokens(http: httpx.AsyncClient, client: Client, user: User) -> dict[str, str]:
    code, verifier = await _code(http, client, user)
    response = await redeem(http, code, verifier, client.client_id)
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


async def test_wrong_verifier_is_refused(app: FastAPI) -> None:
    """Inferno STU2 PKCE: "OAuth token exchange fails when supplied invalid code_verifier"."""
    client, _ = await new_app(app)
    user = await new_user(app)
    async with browser(app) as http:
        code, _ = await _code(http, client, user)
        wrong, _ = pkce()
        response = await redeem(http, code, wrong, client.client_id)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def test_missing_verifier_is_refused(app: FastAPI) -> None:
    """Inferno STU2 PKCE: the token request without code_verifier fails."""
    client, _ = await new_app(app)
    user = await new_user(app)
    async with browser(app) as http:
        code, _ = await _code(http, client, user)
        response = await redeem(http, code, None, client.client_id)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_reused_code_is_refused_and_revokes_first_tokens(app: FastAPI) -> None:
    """Inferno: "OAuth token exchange fails when supplied an already used authorization
    code" (RFC 6749 §4.1.2: the tokens the first use obtained are revoked)."""
    client, _ = await new_app(app)
    user = await new_user(app)
    async with browser(app) as http:
        code, verifier = await _code(http, client, user)
        first = await redeem(http, code, verifier, client.client_id)
        assert first.status_code == 200
        again = await redeem(http, code, verifier, client.client_id)
        assert again.status_code == 400
        assert again.json()["error"] == "invalid_grant"
        refresh = await http.post(
            "/auth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": first.json()["refresh_token"],
                "client_id": client.client_id,
            },
        )
    with pytest.raises(Unauthorized):
        await auth(app).tokens.check(first.json()["access_token"], FHIR_BASE)
    assert refresh.status_code == 400


async def test_token_request_with_other_redirect_uri_is_refused(app: FastAPI) -> None:
    """Inferno: "OAuth token exchange fails when supplied invalid redirect_uri"."""
    client, _ = await new_app(app)
    user = await new_user(app)
    async with browser(app) as http:
        code, verifier = await _code(http, client, user)
        response = await redeem(
            http, code, verifier, client.client_id, redirect_uri=REDIRECT_URI + "/other"
        )
    assert response.json()["error"] == "invalid_grant"


async def test_code_of_another_client_is_refused(app: FastAPI) -> None:
    """Inferno: the code is bound to the client it was issued to."""
    client, _ = await new_app(app)
    other, _ = await new_app(app)
    user = await new_user(app)
    async with browser(app) as http:
        code, verifier = await _code(http, client, user)
        response = await redeem(http, code, verifier, other.client_id)
    assert response.json()["error"] == "invalid_grant"


async def test_confidential_symmetric_client(app: FastAPI) -> None:
    """Inferno standalone launch with a confidential symmetric client (HTTP Basic)."""
    client, secret = await new_app(app, kind="confidential-symmetric")
    assert secret is not None
    user = await new_user(app)
    async with browser(app) as http:
        code, verifier = await _code(http, client, user)
        unauthenticated = await redeem(http, code, verifier, client.client_id)
        assert unauthenticated.status_code == 401
        code, verifier = await _code(http, client, user)
        response = await http.post(
            "/auth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT_URI,
                "code_verifier": verifier,
            },
            auth=(client.client_id, secret),
        )
    assert response.status_code == 200, response.text


async def test_id_token(app: FastAPI) -> None:
    """Inferno openid_connect: "ID token signature is valid", "ID token has the required
    claims" (iss, sub, aud, exp, iat), "ID token contains fhirUser"."""
    client, _ = await new_app(app)
    user = await new_user(app)
    async with browser(app) as http:
        body = await _tokens(http, client, user)
        jwks = (await http.get("/auth/jwks")).json()
    decoded = jwt.decode(body["id_token"], KeySet.import_key_set(jwks), algorithms=["RS256"])
    claims = decoded.claims
    assert decoded.header["alg"] == "RS256"
    assert claims["iss"] == FHIR_BASE
    assert claims["sub"] == user.id
    assert claims["aud"] == client.client_id
    assert claims["exp"] > claims["iat"]
    assert claims["fhirUser"] == user.fhir_user


async def test_refresh_rotation(app: FastAPI) -> None:
    """Inferno token_refresh_stu2: "Refresh token exchange succeeds", "response contains
    required information"; rotation: the old refresh token is then refused, and presenting
    it again revokes its successor too."""
    client, _ = await new_app(app)
    user = await new_user(app)
    async with browser(app) as http:
        first = await _tokens(http, client, user)

        async def refresh(token: str, **extra: str) -> httpx.Response:
            data = {"grant_type": "refresh_token", "refresh_token": token}
            data |= {"client_id": client.client_id, **extra}
            return await http.post("/auth/token", data=data)

        second = await refresh(first["refresh_token"])
        assert second.status_code == 200, second.text
        rotated = second.json()
        assert rotated["access_token"] and rotated["refresh_token"] != first["refresh_token"]
        assert rotated["scope"] == first["scope"]
        narrowed = await refresh(rotated["refresh_token"], scope="user/*.rs offline_access")
        assert narrowed.json()["scope"] == "user/*.rs offline_access"
        replay = await refresh(first["refresh_token"])
        assert replay.status_code == 400
        assert replay.json()["error"] == "invalid_grant"
        successor = await refresh(narrowed.json()["refresh_token"])
        assert successor.status_code == 400  # the family was revoked …
        with pytest.raises(Unauthorized):  # … with the access tokens issued beside it
            await auth(app).tokens.check(narrowed.json()["access_token"], FHIR_BASE)
        wider = await _tokens(http, client, user)
        widened = await refresh(wider["refresh_token"], scope="user/*.cruds")
        assert widened.json()["error"] == "invalid_scope"


async def test_revoke_and_introspect(app: FastAPI) -> None:
    """Inferno token introspection (RFC 7662) and revocation (RFC 7009): an active token
    introspects active; once revoked, inactive and refused by the FHIR API."""
    client, secret = await new_app(app, kind="confidential-symmetric")
    assert secret is not None
    user = await new_user(app)
    async with browser(app) as http:
        code, verifier = await _code(http, client, user)
        body = (
            await http.post(
                "/auth/token",
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": REDIRECT_URI,
                    "code_verifier": verifier,
                },
                auth=(client.client_id, secret),
            )
        ).json()
        access, refresh = body["access_token"], body["refresh_token"]

        async def introspect(token: str) -> dict[str, object]:
            response = await http.post(
                "/auth/introspect", data={"token": token}, auth=(client.client_id, secret)
            )
            assert response.status_code == 200
            result: dict[str, object] = response.json()
            return result

        anonymous = await http.post("/auth/introspect", data={"token": access})
        assert anonymous.status_code == 401
        active = await introspect(access)
        assert active["active"] is True
        assert active["scope"] == body["scope"]
        assert active["client_id"] == client.client_id
        assert (await introspect(refresh))["active"] is True
        revoked = await http.post(
            "/auth/revoke", data={"token": access}, auth=(client.client_id, secret)
        )
        assert revoked.status_code == 200
        assert (await introspect(access)) == {"active": False}
        await http.post("/auth/revoke", data={"token": refresh}, auth=(client.client_id, secret))
        assert (await introspect(refresh)) == {"active": False}
        unknown = await http.post(
            "/auth/revoke", data={"token": "nonsense"}, auth=(client.client_id, secret)
        )
        assert unknown.status_code == 200
        fhir = await http.get("/fhir/Patient", headers={"Authorization": f"Bearer {access}"})
    assert fhir.status_code == 401


async def test_admin_may_introspect(app: FastAPI) -> None:
    """RFC 7662: an admin's bearer token authorises introspection."""
    client, _ = await new_app(app)
    user = await new_user(app)
    admin, _ = await auth(app).users.add("root-admin", "admin password 1234", "admin")
    from smart_auth.tokens import Grant

    minted = auth(app).tokens.mint(
        Grant(admin.id, "admin-cli", "user/*.rs", role="admin"),
        issuer=FHIR_BASE,
        audience=FHIR_BASE,
    )
    async with browser(app) as http:
        body = await _tokens(http, client, user)
        response = await http.post(
            "/auth/introspect",
            data={"token": body["access_token"]},
            headers={"Authorization": f"Bearer {minted.token}"},
        )
    assert response.json()["active"] is True
    assert response.json()["sub"] == user.id


@pytest.mark.parametrize("access", ["online_access", "offline_access"])
async def test_refresh_lifetimes(app: FastAPI, access: str) -> None:
    """Inferno token_refresh_stu2 context: offline_access and online_access refresh tokens
    live as long as the settings say."""
    client, _ = await new_app(app)
    user = await new_user(app)
    async with browser(app) as http:
        code, verifier = await _code(http, client, user, f"user/*.rs {access}")
        body = (await redeem(http, code, verifier, client.client_id)).json()
    assert body["refresh_token"]
    stored = await auth(app).db["auth_refresh_tokens"].find_one({})
    assert stored is not None
    settings = auth(app).settings
    lifetime = (
        settings.offline_refresh_lifetime_s
        if access == "offline_access"
        else settings.online_refresh_lifetime_s
    )
    left = stored["expires"].replace(tzinfo=UTC) - datetime.now(UTC)
    assert abs(left.total_seconds() - lifetime) < 60


async def test_no_refresh_token_without_access_scope(app: FastAPI) -> None:
    """Inferno: a refresh token only when offline_access or online_access was granted."""
    client, _ = await new_app(app)
    user = await new_user(app)
    async with browser(app) as http:
        code, verifier = await _code(http, client, user, "user/*.rs")
        body = (await redeem(http, code, verifier, client.client_id)).json()
    assert "refresh_token" not in body
    assert "id_token" not in body


async def test_revoke_and_introspect_are_guarded(app: FastAPI) -> None:
    """RFC 7009 §2.1: a client revokes only its own tokens; RFC 7662 §2.1: a public client
    may not introspect."""
    client, _ = await new_app(app)
    other, secret = await new_app(app, kind="confidential-symmetric")
    assert secret is not None
    user = await new_user(app)
    async with browser(app) as http:
        body = await _tokens(http, client, user)
        foreign = await http.post(
            "/auth/revoke", data={"token": body["access_token"]}, auth=(other.client_id, secret)
        )
        public = await http.post(
            "/auth/introspect", data={"token": body["access_token"], "client_id": client.client_id}
        )
    assert foreign.status_code == 400
    assert foreign.json()["error"] == "unauthorized_client"
    assert public.status_code == 401
    assert (await auth(app).tokens.check(body["access_token"], FHIR_BASE)).subject == user.id
