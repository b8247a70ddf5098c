"""Clients: the SMART apps and backend systems that ask medrec for tokens.

Public apps (in a browser or on a phone) hold no secret; confidential-symmetric ones hold a
secret issued here (stored as an argon2id hash only); confidential-asymmetric ones (SMART Backend
Services) prove themselves with JWTs signed by a key whose public half they registered, inline
(``jwks``) or by URL (``jwks_uri``)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from fhir_server.errors import Conflict
from smart_auth.accounts.invalid import invalid
from smart_auth.accounts.passwords import hash_password, verify_password
from smart_auth.model import CLIENT_KINDS, Client, ClientKind
from smart_auth.scopes import well_formed

CLIENTS_COLLECTION = "auth_clients"
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
LOOPBACK_HOSTS = ("localhost", "127.0.0.1")
_CLIENT_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~-")
_PRIVATE_KEY_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


class ClientStore:
    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.clients = db[CLIENTS_COLLECTION]

    async def ensure_indexes(self) -> None:
        """The client id is the ``_id``: nothing more to index."""

    async def add(
        self,
        name: str,
        kind: ClientKind,
        redirect_uris: Sequence[str] = (),
        scope: str = "",
        *,
        jwks: dict[str, Any] | None = None,
        jwks_uri: str | None = None,
        grant_types: Sequence[str] | None = None,
        client_id: str | None = None,
    ) -> tuple[Client, str | None]:
        """Register a client; also return its secret (shown once) when it is
        confidential-symmetric. Raises Invalid, or Conflict for a taken client id."""
        if grant_types is None:
            grant_types = default_grant_types(kind)
        client = Client(
            client_id=client_id if client_id is not None else secrets.token_urlsafe(16),
            name=name.strip(),
            kind=kind,
            redirect_uris=tuple(redirect_uris),
            scope=" ".join(scope.split()),
            jwks=jwks,
            jwks_uri=jwks_uri,
            grant_types=tuple(dict.fromkeys(grant_types)),
        )
        check_client(client)
        secret = secrets.token_urlsafe(32) if kind == "confidential-symmetric" else None
        document = _document(client)
        document["secret_hash"] = None if secret is None else await hash_password(secret)
        document["created"] = time.time()
        try:
            await self.clients.insert_one(document)
        except DuplicateKeyError:
            raise Conflict(f"The client id '{client.client_id}' is taken") from None
        return _client(document), secret

    async def get(self, client_id: str) -> Client | None:
        """The client, also when removed (``disabled``): callers refuse disabled clients."""
        found = await self.clients.find_one({"_id": client_id})
        return None if found is None else _client(found)

    async def list(self) -> list[Client]:
        return [_client(found) async for found in self.clients.find({}).sort("_id", 1)]

    async def remove(self, client_id: str) -> bool:
        """Disable the client (its record stays, for the audit trail). False when unknown."""
        result = await self.clients.update_one({"_id": client_id}, {"$set": {"disabled": True}})
        return result.matched_count == 1

    async def verify_secret(self, client: Client, secret: str) -> bool:
        if client.secret_hash is None:
            return False
        return await verify_password(client.secret_hash, secret)


def default_grant_types(kind: ClientKind) -> tuple[str, ...]:
    if kind == "confidential-asymmetric":
        return ("client_credentials",)
    return ("authorization_code", "refresh_token")


def check_client(client: Client) -> None:
    """Raise Invalid, naming the field, unless ``client`` is a registration we accept."""
    if not client.name or len(client.name) > 200:
        raise invalid("name", "A client has a name of at most 200 characters")
    if not 3 <= len(client.client_id) <= 128 or not set(client.client_id) <= _CLIENT_ID_CHARS:
        raise invalid("client_id", "A client id is 3 to 128 letters, digits and . _ ~ -")
    if client.kind not in CLIENT_KINDS:
        raise invalid("kind", f"The kind of client is one of {', '.join(CLIENT_KINDS)}")
    _check_grant_types(client)
    for uri in client.redirect_uris:
        _check_uri("redirect_uris", uri)
    if "authorization_code" in client.grant_types and not client.redirect_uris:
        raise invalid("redirect_uris", "An app that logs users in needs a redirect URI")
    if not well_formed(client.scope):
        raise invalid("scope", f"'{client.scope}' is not a list of SMART scopes")
    _check_keys(client)


def _check_grant_types(client: Client) -> None:
    unknown = [grant for grant in client.grant_types if grant not in GRANT_TYPES]
    if unknown or not client.grant_types:
        raise invalid("grant_types", f"The grant types are among {', '.join(GRANT_TYPES)}")
    if "client_credentials" in client.grant_types and client.kind != "confidential-asymmetric":
        raise invalid(
            "grant_types", "client_credentials is for confidential-asymmetric clients only"
        )
    if "refresh_token" in client.grant_types and "authorization_code" not in client.grant_types:
        raise invalid("grant_types", "refresh_token comes with authorization_code")


def _check_uri(field: str, uri: str) -> None:
    """Absolute https, or http to this machine (development); never a fragment."""
    try:
        parts = urlsplit(uri)
        host = parts.hostname
    except ValueError:
        raise invalid(field, f"'{uri}' is not a URL") from None
    if parts.fragment or "#" in uri:
        raise invalid(field, f"'{uri}': a redirect URI has no fragment")
    secure = parts.scheme == "https" and bool(host)
    loopback = parts.scheme == "http" and host in LOOPBACK_HOSTS
    if not (secure or loopback) or parts.username is not None:
        raise invalid(
            field, f"'{uri}' must be an absolute https URL (or http://localhost, 127.0.0.1)"
        )


def _check_keys(client: Client) -> None:
    if client.kind != "confidential-asymmetric":
        if client.jwks is not None or client.jwks_uri is not None:
            raise invalid("jwks", "Only confidential-asymmetric clients register keys")
        return
    if client.jwks is None and client.jwks_uri is None:
        raise invalid("jwks", "A confidential-asymmetric client needs jwks or jwks_uri")
    if client.jwks_uri is not None:
        _check_uri("jwks_uri", client.jwks_uri)
    if client.jwks is not None:
        _check_jwks(client.jwks)


def _check_jwks(jwks: dict[str, object]) -> None:
    keys = jwks.get("keys")
    if not isinstance(keys, list) or not keys:
        raise invalid("jwks", 'jwks is a JWK Set: {"keys": [...]} with at least one key')
    for key in keys:
        if not isinstance(key, dict) or key.get("kty") not in ("RSA", "EC"):
            raise invalid("jwks", "Every key is an RSA or EC public key")
        if _PRIVATE_KEY_MEMBERS & key.keys():
            raise invalid("jwks", "jwks holds public keys only: never send a private key")
    try:
        KeySet.import_key_set({"keys": keys})
    except (JoseError, ValueError, TypeError) as error:
        raise invalid("jwks", f"jwks holds a key that is not valid: {error}") from None


def _document(client: Client) -> dict[str, Any]:
    return {
        "_id": client.client_id,
        "name": client.name,
        "kind": client.kind,
        "redirect_uris": list(client.redirect_uris),
        "scope": client.scope,
        "jwks": client.jwks,
        "jwks_uri": client.jwks_uri,
        "grant_types": list(client.grant_types),
        "disabled": client.disabled,
    }


def _client(document: dict[str, Any]) -> Client:
    kind: ClientKind = document["kind"]
    return Client(
        client_id=document["_id"],
        name=document["name"],
        kind=kind,
        redirect_uris=tuple(document.get("redirect_uris") or ()),
        scope=document.get("scope") or "",
        secret_hash=document.get("secret_hash"),
        jwks=document.get("jwks"),
        jwks_uri=document.get("jwks_uri"),
        grant_types=tuple(document.get("grant_types") or ()),
        disabled=bool(document.get("disabled")),
    )
