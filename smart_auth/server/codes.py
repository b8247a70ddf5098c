"""Authorization codes: single use, five minutes, bound to the client, the redirect URI, the
PKCE challenge, the granted scope, the user and the launch context.

A code presented twice is refused, and the tokens the first use obtained are revoked
(RFC 6749 §4.1.2): the second presenter may be the thief, or the first one was."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from smart_auth.server.opaque import digest, expiry

CODES_COLLECTION = "auth_codes"
CODE_LIFETIME_S = 300


@dataclass(frozen=True, slots=True)
class LaunchContext:
    """What the app is launched into: the token response's ``patient`` and ``encounter``."""

    patient: str | None = None
    encounter: str | None = None
    need_patient_banner: bool = True


@dataclass(frozen=True, slots=True)
class Approval:
    """What the user approved on the consent page: the code is issued for this."""

    user_id: str
    scope: str
    context: LaunchContext
    nonce: str | None = None


@dataclass(frozen=True, slots=True)
class AuthorizationCode:
    """One redeemed code, in the shape Authlib's grant and PKCE extension read."""

    client_id: str
    redirect_uri: str
    code_challenge: str
    code_challenge_method: str
    approval: Approval
    key: str = field(repr=False)  # the code's digest: where the issued tokens are recorded

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.approval.scope


@dataclass(frozen=True, slots=True)
class FirstUse:
    """What a code's first use obtained (to revoke on replay)."""

    access_jtis: list[tuple[str, int]]  # (jti, exp)
    refresh_family: str | None


class AuthorizationCodes:
    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.codes = db[CODES_COLLECTION]

    async def ensure_indexes(self) -> None:
        await self.codes.create_index("expires", expireAfterSeconds=0)

    async def save(
        self,
        code: str,
        client_id: str,
        redirect_uri: str,
        challenge: str,
        method: str,
        approval: Approval,
    ) -> None:
        context = approval.context
        await self.codes.insert_one(
            {
                "_id": digest(code),
                "client_id": client_id,
                "redirect_uri": redirect_uri,
                "challenge": challenge,
                "method": method,
                "user_id": approval.user_id,
                "scope": approval.scope,
                "nonce": approval.nonce,
                "patient": context.patient,
                "encounter": context.encounter,
                "banner": context.need_patient_banner,
                "used": False,
                # Kept after use (until well past expiry) to recognise a replay.
                "expires": expiry(CODE_LIFETIME_S * 12),
                "valid_until": expiry(CODE_LIFETIME_S),
            }
        )

    async def take(self, code: str, client_id: str) -> AuthorizationCode | None:
        """Redeem a code once: None when unknown, expired, another client's, or used."""
        key = digest(code)
        doc = await self.codes.find_one_and_update(
            {
                "_id": key,
                "client_id": client_id,
                "used": False,
                "valid_until": {"$gt": datetime.now(UTC)},
            },
            {"$set": {"used": True}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            return None
        context = LaunchContext(doc["patient"], doc["encounter"], doc["banner"])
        approval = Approval(doc["user_id"], doc["scope"], context, doc["nonce"])
        return AuthorizationCode(
            doc["client_id"], doc["redirect_uri"], doc["challenge"], doc["method"], approval, key
        )

    async def replayed(self, code: str) -> FirstUse | None:
        """What the first use of an already used code obtained; None if it was not used."""
        doc = await self.codes.find_one({"_id": digest(code), "used": True})
        if doc is None:
            return None
        jtis = [(entry["jti"], entry["exp"]) for entry in doc.get("access", [])]
        return FirstUse(jtis, doc.get("family"))

    async def record_issued(self, key: str, jti: str, exp: int, family: str | None) -> None:
        update: dict[str, Any] = {"$push": {"access": {"jti": jti, "exp": exp}}}
        if family is not None:
            update["$set"] = {"family": family}
        await self.codes.update_one({"_id": key}, update)
