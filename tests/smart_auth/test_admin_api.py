"""The admin API on the real app: admins only, validation as OperationOutcome, no secrets out
except the one-time ones in a creation's response."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from smart_auth.services import AuthServices
from smart_auth.tokens import Grant

ADMIN = "/admin"
PASSWORD = "correct horse battery"


def bearer(app: FastAPI, role: str | None) -> dict[str, str]:
    auth: AuthServices = app.state.auth
    grant = Grant(subject="someone", client_id="tests", scope="user/*.rs", role=role)
    minted = auth.tokens.mint(grant, issuer="http://testserver", audience="http://testserver/fhir")
    return {"Authorization": f"Bearer {minted.token}"}


@pytest.fixture
def admin(app: FastAPI) -> dict[str, str]:
    return bearer(app, "admin")


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app over HTTP, with no token unless a test gives one."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


def issue(response: httpx.Response) -> dict[str, Any]:
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome", outcome
    first: dict[str, Any] = outcome["issue"][0]
    return first


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/users"),
        ("POST", "/users"),
        ("POST", "/users/alice/disable"),
        ("GET", "/clients"),
        ("POST", "/clients"),
        ("DELETE", "/clients/some-app"),
    ],
)
async def test_admins_only(app: FastAPI, client: httpx.AsyncClient, method: str, path: str) -> None:
    anonymous = await client.request(method, ADMIN + path, json={})
    assert anonymous.status_code == 401
    assert issue(anonymous)["code"] == "login"
    for role in ("practitioner", "patient", "staff", None):
        refused = await client.request(method, ADMIN + path, json={}, headers=bearer(app, role))
        assert refused.status_code == 403, (role, refused.text)
        assert issue(refused)["code"] == "forbidden"


async def test_users(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    new = {"username": "Root", "password": PASSWORD, "role": "admin"}
    created = await client.post(f"{ADMIN}/users", json=new, headers=admin)
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    shown = created.json()
    assert shown["username"] == "root" and shown["totp"] is True
    assert shown["totp_uri"].startswith("otpauth://totp/medrec:root?secret=")
    assert "password_hash" not in shown and PASSWORD not in created.text

    doctor = {
        "username": "dr-chen",
        "password": PASSWORD,
        "role": "practitioner",
        "fhir_user": "Practitioner/dr-chen",
    }
    created = await client.post(f"{ADMIN}/users", json=doctor, headers=admin)
    assert created.status_code == 201, created.text
    assert "totp_uri" not in created.json()

    listed = await client.get(f"{ADMIN}/users", headers=admin)
    assert listed.status_code == 200
    assert [user["username"] for user in listed.json()] == ["dr-chen", "root"]
    assert "argon2" not in listed.text and "secret" not in listed.text

    disabled = await client.post(f"{ADMIN}/users/dr-chen/disable", headers=admin)
    assert disabled.status_code == 200
    assert disabled.json()["disabled"] is True
    missing = await client.post(f"{ADMIN}/users/nobody/disable", headers=admin)
    assert missing.status_code == 404
    assert issue(missing)["code"] == "not-found"


async def test_user_errors(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    short = {"username": "amina", "password": "too short", "role": "staff"}
    response = await client.post(f"{ADMIN}/users", json=short, headers=admin)
    assert response.status_code == 400
    assert issue(response)["expression"] == ["password"]
    assert "too short" not in response.text

    unlinked = {"username": "amina", "password": PASSWORD, "role": "patient"}
    response = await client.post(f"{ADMIN}/users", json=unlinked, headers=admin)
    assert response.status_code == 400
    assert issue(response)["expression"] == ["fhir_user"]

    bad_role = {"username": "amina", "password": PASSWORD, "role": "superuser"}
    response = await client.post(f"{ADMIN}/users", json=bad_role, headers=admin)
    assert response.status_code == 400
    assert issue(response)["code"] == "invalid"

    staff = {"username": "amina", "password": PASSWORD, "role": "staff"}
    assert (await client.post(f"{ADMIN}/users", json=staff, headers=admin)).status_code == 201
    again = await client.post(f"{ADMIN}/users", json=staff, headers=admin)
    assert again.status_code == 409
    assert issue(again)["code"] == "conflict"


async def test_clients(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    app = {
        "name": "Dashboard",
        "kind": "confidential-symmetric",
        "redirect_uris": ["https://dash.example.org/callback"],
        "scope": "openid fhirUser user/*.rs",
        "client_id": "dash",
    }
    created = await client.post(f"{ADMIN}/clients", json=app, headers=admin)
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    shown = created.json()
    secret = shown["client_secret"]
    assert len(secret) >= 40
    assert shown["grant_types"] == ["authorization_code", "refresh_token"]

    listed = await client.get(f"{ADMIN}/clients", headers=admin)
    assert listed.status_code == 200
    assert [entry["client_id"] for entry in listed.json()] == ["dash"]
    assert secret not in listed.text and "secret" not in listed.text

    removed = await client.delete(f"{ADMIN}/clients/dash", headers=admin)
    assert removed.status_code == 204
    listed = await client.get(f"{ADMIN}/clients", headers=admin)
    assert listed.json()[0]["disabled"] is True
    missing = await client.delete(f"{ADMIN}/clients/nothing", headers=admin)
    assert missing.status_code == 404


async def test_client_errors(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    insecure = {"name": "App", "kind": "public", "redirect_uris": ["http://app.example.org/cb"]}
    response = await client.post(f"{ADMIN}/clients", json=insecure, headers=admin)
    assert response.status_code == 400
    assert issue(response)["expression"] == ["redirect_uris"]

    keyless = {"name": "Exporter", "kind": "confidential-asymmetric"}
    response = await client.post(f"{ADMIN}/clients", json=keyless, headers=admin)
    assert response.status_code == 400
    assert issue(response)["expression"] == ["jwks"]

    unknown_field = {"name": "App", "kind": "public", "client_secret": "chosen"}
    response = await client.post(f"{ADMIN}/clients", json=unknown_field, headers=admin)
    assert response.status_code == 400

    public = {"name": "App", "kind": "public", "redirect_uris": ["http://localhost:4000/cb"]}
    first = await client.post(
        f"{ADMIN}/clients", json={**public, "client_id": "app"}, headers=admin
    )
    assert first.status_code == 201
    assert "client_secret" not in first.json()
    again = await client.post(
        f"{ADMIN}/clients", json={**public, "client_id": "app"}, headers=admin
    )
    assert again.status_code == 409
