"""Demo accounts for `medrec demo` and `medrec serve --demo`: a doctor, a patient and an admin
(each linked to the demo data set's FHIR resources) and a SMART app to log in with.

Passwords are random and printed once, when created; running the demo again leaves existing
accounts alone."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from rich.console import Console

from fhir_server.config import Settings
from smart_auth.accounts.clients import ClientStore
from smart_auth.accounts.users import UserStore
from smart_auth.keys import signing_key
from smart_auth.model import Client, Role, User
from smart_auth.tokens import Grant, Tokens

DEMO_APP_ID = "medrec-demo-app"
DEMO_APP_REDIRECT = "http://localhost:4000/callback"
DEMO_APP_SCOPE = (
    "openid fhirUser profile launch launch/patient launch/encounter offline_access "
    "online_access patient/*.cruds user/*.cruds"
)
# (username, role, fhirUser): the Practitioner and Patient are in fhir_server/demo.py.
DEMO_USERS: tuple[tuple[str, Role, str | None], ...] = (
    ("dr-chen", "practitioner", "Practitioner/dr-chen"),
    ("amina", "patient", "Patient/amina-hassan"),
    ("admin", "admin", None),
)


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: Role
    fhir_user: str | None
    password: str | None = None  # set only when created by this run
    totp_uri: str | None = None


@dataclass(frozen=True)
class DemoAccounts:
    users: tuple[DemoUser, ...]
    app: Client
    app_created: bool


async def load_demo_accounts(users: UserStore, clients: ClientStore) -> DemoAccounts:
    """Create whichever demo accounts are missing."""
    found: list[DemoUser] = []
    for username, role, fhir_user in DEMO_USERS:
        if await users.by_username(username) is not None:
            found.append(DemoUser(username, role, fhir_user))
            continue
        password = secrets.token_urlsafe(12)
        _, totp_uri = await users.add(username, password, role, fhir_user)
        found.append(DemoUser(username, role, fhir_user, password, totp_uri))
    app = await clients.get(DEMO_APP_ID)
    created = app is None
    if app is None:
        app, _ = await clients.add(
            "medrec demo SMART app",
            "public",
            [DEMO_APP_REDIRECT],
            DEMO_APP_SCOPE,
            client_id=DEMO_APP_ID,
        )
    return DemoAccounts(tuple(found), app, created)


def describe(accounts: DemoAccounts, fhir_base: str) -> list[str]:
    """How to use the demo accounts, for the console."""
    lines = ["demo users (passwords are shown once, when created):"]
    for user in accounts.users:
        linked = f", {user.fhir_user}" if user.fhir_user else ""
        password = user.password or "(existed already: password as first printed)"
        lines.append(f"  {user.username} ({user.role}{linked}): {password}")
        if user.totp_uri is not None:
            lines.append(f"    second factor: add to an authenticator app: {user.totp_uri}")
    app = accounts.app
    state = "created" if accounts.app_created else "existed already"
    lines += [
        f"demo SMART app ({state}): public client, client_id={app.client_id}, "
        f"redirect_uri={', '.join(app.redirect_uris)}",
        f"  discovery: {fhir_base}/.well-known/smart-configuration",
        "  standalone launch: authorization code + PKCE (S256), "
        f"aud={fhir_base}, scope='launch/patient openid fhirUser patient/*.rs'",
    ]
    return lines


async def print_demo_accounts(db: AsyncDatabase[Any], settings: Settings, console: Console) -> None:
    """Create the missing demo accounts and print how to use them."""
    users, clients = UserStore(db, settings), ClientStore(db)
    await users.ensure_indexes()
    await clients.ensure_indexes()
    accounts = await load_demo_accounts(users, clients)
    fhir_base = settings.base_url or f"http://{settings.host}:{settings.port}/fhir"
    for line in describe(accounts, fhir_base.rstrip("/")):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    doctor = await users.by_username("dr-chen")
    if doctor is not None:
        token = await demo_token(db, settings, doctor, fhir_base.rstrip("/"))
        minutes = settings.access_token_lifetime_s // 60
        console.print(
            f"a demo access token for dr-chen (user/*.rs, valid {minutes} minutes), to try "
            "the API by hand:",
            highlight=False,
        )
        console.print(f"  export TOKEN={token}", markup=False, highlight=False, soft_wrap=True)
        console.print(
            f'  curl -H "Authorization: Bearer $TOKEN" {fhir_base.rstrip("/")}'
            "/Patient/amina-hassan",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


async def demo_token(db: AsyncDatabase[Any], settings: Settings, user: User, base: str) -> str:
    """An access token for a demo user, signed with the server's key, without a login: what
    an app would get after the SMART flow (for trying the API with curl)."""
    tokens = Tokens(db, await signing_key(db), settings.access_token_lifetime_s)
    grant = Grant(user.id, DEMO_APP_ID, "user/*.rs", user.role, user.fhir_user)
    return tokens.mint(grant, issuer=base, audience=base).token
