"""Access tokens: short-lived JWTs signed with the server's key, checked on every request.

A token names who (``sub``, ``fhirUser``, role), through which client, with which scopes and
launch context. Revocation (RFC 7009) records the token's ``jti`` until it would have expired.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from pymongo.asynchronous.database import AsyncDatabase

from fhir_server.errors import Unauthorized
from smart_auth.keys import SIGNING_ALG

REVOKED_COLLECTION = "auth_revoked_tokens"
CLOCK_SKEW_S = 30
# How stale this process's copy of the revocation list may get: a revocation takes effect at
# once in the process that received it, within this long in the others sharing the database.
REVOCATIONS_REFRESH_S = 1.0


@dataclass(frozen=True, slots=True)
class Grant:
    """What an access token grants, and to whom."""

    subject: str  # the user's id, or the client id for backend services
    client_id: str
    scope: str
    role: str | None = None  # admin | practitioner | staff | patient; None: a system client
    fhir_user: str | None = None  # "Practitioner/123"
    patient: str | None = None  # launch context
    encounter: str | None = None


@dataclass(frozen=True, slots=True)
class Minted:
    token: str
    jti: str
    expires_in: int


class Tokens:
    def __init__(self, db: AsyncDatabase[Any], key: RSAKey, lifetime_s: int) -> None:
        self.revoked = db[REVOKED_COLLECTION]
        self.key = key
        self.lifetime_s = lifetime_s
        # The ids of revoked, unexpired tokens (few: they expire within a lifetime), read
        # at most once a REVOCATIONS_REFRESH_S rather than once a request.
        self._revoked_ids: set[str] = set()
        self._read_at = float("-inf")
        self._reading = asyncio.Lock()
        self._revoked_here: dict[str, float] = {}  # jti -> when this process revoked it

    async def is_revoked(self, jti: str) -> bool:
        if time.monotonic() - self._read_at > REVOCATIONS_REFRESH_S:
            async with self._reading:
                if time.monotonic() - self._read_at > REVOCATIONS_REFRESH_S:
                    started = time.monotonic()
                    found = {doc["_id"] async for doc in self.revoked.find({}, {"_id": 1})}
                    # Revoked here while the list was being read: keep them.
                    self._revoked_here = {
                        j: at for j, at in self._revoked_here.items() if at >= started
                    }
                    self._revoked_ids = found | set(self._revoked_here)
                    self._read_at = started
        return jti in self._revoked_ids

    async def ensure_indexes(self) -> None:
        # Forget a revocation once the token would have expired anyway.
        await self.revoked.create_index("exp", expireAfterSeconds=0)

    def mint(self, grant: Grant, *, issuer: str, audience: str) -> Minted:
        """Sign an access token for ``audience`` (the FHIR base URL). Synchronous: the
        authorization server calls it from its worker thread."""
        return sign_access_token(self.key, self.lifetime_s, grant, issuer=issuer, audience=audience)

    def claims(self, token: str) -> dict[str, Any]:
        """The claims of a token this server signed and that has not expired (signature,
        algorithm and expiry checked; not revocation). Raises Unauthorized."""
        try:
            decoded = jwt.decode(token, self.key, algorithms=[SIGNING_ALG])
        except (JoseError, ValueError):
            raise Unauthorized("The access token is not valid") from None
        claims = decoded.claims
        exp = claims.get("exp")
        if not isinstance(exp, int) or exp + CLOCK_SKEW_S < time.time():
            raise Unauthorized("The access token has expired")
        for name in ("sub", "client_id", "scope", "jti", "aud"):
            if not isinstance(claims.get(name), str):
                raise Unauthorized("The access token is not valid")
        return claims

    async def check(self, token: str, audience: str) -> Grant:
        """The grant of a valid, unrevoked token meant for ``audience``."""
        claims = self.claims(token)
        if claims["aud"].rstrip("/") != audience.rstrip("/"):
            raise Unauthorized("The access token was issued for another server")
        if await self.is_revoked(claims["jti"]):
            raise Unauthorized("The access token has been revoked")
        return grant_of(claims)

    async def revoke(self, token: str) -> bool:
        """Revoke an access token (RFC 7009). False when it is not one of ours or has
        expired: nothing to do."""
        try:
            claims = self.claims(token)
        except Unauthorized:
            return False
        await self.revoke_jti(claims["jti"], claims["exp"])
        return True

    async def revoke_jti(self, jti: str, exp: int) -> None:
        """Revoke a token known by its ``jti`` and expiry (epoch seconds) only: those a
        replayed authorization code or refresh token obtained (never stored)."""
        expires = datetime.fromtimestamp(exp + CLOCK_SKEW_S, UTC)
        await self.revoked.update_one({"_id": jti}, {"$set": {"exp": expires}}, upsert=True)
        self._revoked_here[jti] = time.monotonic()
        self._revoked_ids.add(jti)

    async def active(self, token: str) -> dict[str, Any] | None:
        """Introspection (RFC 7662): the claims of an active token, else None."""
        try:
            claims = self.claims(token)
        except Unauthorized:
            return None
        if await self.is_revoked(claims["jti"]):
            return None
        return claims


def sign_access_token(
    key: RSAKey, lifetime_s: int, grant: Grant, *, issuer: str, audience: str
) -> Minted:
    now = int(time.time())
    jti = uuid.uuid4().hex
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": grant.subject,
        "client_id": grant.client_id,
        "scope": grant.scope,
        "iat": now,
        "exp": now + lifetime_s,
        "jti": jti,
    }
    optional = {
        "medrec_role": grant.role,
        "fhirUser": grant.fhir_user,
        "patient": grant.patient,
        "encounter": grant.encounter,
    }
    claims.update({name: value for name, value in optional.items() if value is not None})
    header = {"alg": SIGNING_ALG, "kid": key.kid, "typ": "at+jwt"}
    return Minted(jwt.encode(header, claims, key), jti, lifetime_s)


def grant_of(claims: dict[str, Any]) -> Grant:
    def text(name: str) -> str | None:
        value = claims.get(name)
        return value if isinstance(value, str) else None

    return Grant(
        subject=claims["sub"],
        client_id=claims["client_id"],
        scope=claims["scope"],
        role=text("medrec_role"),
        fhir_user=text("fhirUser"),
        patient=text("patient"),
        encounter=text("encounter"),
    )
