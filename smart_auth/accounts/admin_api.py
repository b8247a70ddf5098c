"""The admin API: users and clients over HTTP, for administrators only.

JSON in and out. Password hashes and client secrets never leave; a new client's secret and a new
user's TOTP URI are returned once, in the response that creates them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from fhir_server.errors import NotFound
from smart_auth.enforce import require_admin
from smart_auth.model import Client, ClientKind, Role, User
from smart_auth.services import auth_services

admin_router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin)])


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(max_length=64)
    password: SecretStr = Field(max_length=1024)
    role: Role
    fhir_user: str | None = Field(default=None, max_length=200)
    totp: bool = False


class NewClient(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=200)
    kind: ClientKind
    redirect_uris: list[str] = Field(default_factory=list, max_length=50)
    scope: str = Field(default="", max_length=4000)
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = Field(default=None, max_length=2000)
    grant_types: list[str] | None = Field(default=None, max_length=3)
    client_id: str | None = Field(default=None, max_length=128)


@admin_router.get("/users")
async def list_users(request: Request) -> list[dict[str, Any]]:
    return [user_json(user) for user in await auth_services(request).users.list()]


@admin_router.post("/users", status_code=201)
async def add_user(request: Request, body: NewUser) -> JSONResponse:
    user, totp_uri = await auth_services(request).users.add(
        body.username, body.password.get_secret_value(), body.role, body.fhir_user, totp=body.totp
    )
    shown = user_json(user)
    if totp_uri is not None:
        shown["totp_uri"] = totp_uri
    return JSONResponse(shown, status_code=201, headers=_no_store())


@admin_router.post("/users/{username}/disable")
async def disable_user(request: Request, username: str) -> dict[str, Any]:
    users = auth_services(request).users
    if not await users.disable(username):
        raise NotFound(f"No user '{username}'")
    user = await users.by_username(username)
    assert user is not None
    return user_json(user)


@admin_router.get("/clients")
async def list_clients(request: Request) -> list[dict[str, Any]]:
    return [client_json(client) for client in await auth_services(request).clients.list()]


@admin_router.post("/clients", status_code=201)
async def add_client(request: Request, body: NewClient) -> JSONResponse:
    client, secret = await auth_services(request).clients.add(
        body.name,
        body.kind,
        body.redirect_uris,
        body.scope,
        jwks=body.jwks,
        jwks_uri=body.jwks_uri,
        grant_types=body.grant_types,
        client_id=body.client_id,
    )
    shown = client_json(client)
    if secret is not None:
        shown["client_secret"] = secret
    return JSONResponse(shown, status_code=201, headers=_no_store())


@admin_router.delete("/clients/{client_id}", status_code=204)
async def remove_client(request: Request, client_id: str) -> Response:
    if not await auth_services(request).clients.remove(client_id):
        raise NotFound(f"No client '{client_id}'")
    return Response(status_code=204)


def user_json(user: User) -> dict[str, Any]:
    """What may be shown of a user: no password hash, no TOTP secret."""
    return {
        "id": user.id,
        "username": user.username,
        "role": user.role,
        "fhir_user": user.fhir_user,
        "totp": user.totp_secret is not None,
        "disabled": user.disabled,
        "locked_until": user.locked_until,
    }


def client_json(client: Client) -> dict[str, Any]:
    """What may be shown of a client: no secret hash."""
    return {
        "client_id": client.client_id,
        "name": client.name,
        "kind": client.kind,
        "redirect_uris": list(client.redirect_uris),
        "scope": client.scope,
        "grant_types": list(client.grant_types),
        "jwks": client.jwks,
        "jwks_uri": client.jwks_uri,
        "disabled": client.disabled,
    }


def _no_store() -> dict[str, str]:
    # The response carries a secret: no cache may keep it (as RFC 6749 §5.1 asks of tokens).
    return {"Cache-Control": "no-store", "Pragma": "no-cache"}
