"""Who may use medrec: users (people who log in) and clients (apps and systems that ask for
tokens). The stores in ``smart_auth.accounts`` keep them in MongoDB."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal["admin", "practitioner", "staff", "patient"]
ROLES: tuple[Role, ...] = ("admin", "practitioner", "staff", "patient")

ClientKind = Literal["public", "confidential-symmetric", "confidential-asymmetric"]
CLIENT_KINDS: tuple[ClientKind, ...] = (
    "public",
    "confidential-symmetric",
    "confidential-asymmetric",
)


@dataclass(frozen=True)
class User:
    id: str
    username: str
    role: Role
    fhir_user: str | None  # "Practitioner/123" or "Patient/456": who the user is in FHIR
    password_hash: str  # argon2id
    totp_secret: str | None = None  # base32; required for admins
    disabled: bool = False
    failed_logins: int = 0
    locked_until: float | None = None  # epoch seconds


@dataclass(frozen=True)
class Client:
    client_id: str
    name: str
    kind: ClientKind
    redirect_uris: tuple[str, ...] = ()
    scope: str = ""  # the most this client may ask for, space-separated
    secret_hash: str | None = None  # argon2id, confidential-symmetric only
    jwks: dict[str, object] | None = None  # confidential-asymmetric: keys inline, or …
    jwks_uri: str | None = None  # … where to fetch them
    grant_types: tuple[str, ...] = field(default=("authorization_code", "refresh_token"))
    disabled: bool = False
