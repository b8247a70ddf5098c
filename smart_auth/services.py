"""What the authorization server and the enforcement need at run time, built once per app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from joserfc.jwk import RSAKey
from pymongo.asynchronous.database import AsyncDatabase
from starlette.requests import Request

from fhir_server.config import Settings
from fhir_server.errors import Unavailable
from smart_auth.accounts.clients import ClientStore
from smart_auth.accounts.users import UserStore
from smart_auth.keys import signing_key
from smart_auth.tokens import Tokens


@dataclass(frozen=True)
class AuthServices:
    settings: Settings
    db: AsyncDatabase[Any]
    key: RSAKey
    tokens: Tokens
    users: UserStore
    clients: ClientStore

    @property
    def enabled(self) -> bool:
        return self.settings.auth == "on"


async def start_auth(db: AsyncDatabase[Any], settings: Settings) -> AuthServices:
    key = await signing_key(db)
    tokens = Tokens(db, key, settings.access_token_lifetime_s)
    users = UserStore(db, settings)
    clients = ClientStore(db)
    for store in (tokens, users, clients):
        await store.ensure_indexes()
    return AuthServices(settings, db, key, tokens, users, clients)


def auth_services(request: Request) -> AuthServices:
    """The app's authorization services; 503 while the database has not answered yet."""
    found: AuthServices | None = getattr(request.app.state, "auth", None)
    if found is None:
        raise Unavailable("Authorization is starting: the database has not answered yet")
    return found
