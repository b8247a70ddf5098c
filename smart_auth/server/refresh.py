"""Refresh tokens: opaque, stored hashed, rotated on every use.

Each refresh token belongs to a family (one per authorization). Using a token spends it and
issues its successor; presenting a spent one again means it leaked, so the whole family is
revoked, with the access tokens issued beside them. ``offline_access`` tokens live
``offline_refresh_lifetime_s``, ``online_access`` ones ``online_refresh_lifetime_s``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from smart_auth.server.codes import LaunchContext
from smart_auth.server.opaque import digest, expiry, new_secret
from smart_auth.tokens import Tokens

REFRESH_COLLECTION = "auth_refresh_tokens"


@dataclass(frozen=True, slots=True)
class RefreshGrant:
    """What a refresh token stands for, in the shape Authlib's refresh grant reads."""

    family: str
    client_id: str
    user_id: str
    scope: str
    context: LaunchContext
    offline: bool

    def get_scope(self) -> str:
        return self.scope

    def check_client(self, client: Any) -> bool:
        return bool(client.get_client_id() == self.client_id)


class RefreshTokens:
    def __init__(
        self, db: AsyncDatabase[Any], access_tokens: Tokens, online_s: int, offline_s: int
    ) -> None:
        self.tokens = db[REFRESH_COLLECTION]
        self.access_tokens = access_tokens
        self.online_s = online_s
        self.offline_s = offline_s

    async def ensure_indexes(self) -> None:
        await self.tokens.create_index("expires", expireAfterSeconds=0)
        await self.tokens.create_index("family")

    def lifetime(self, offline: bool) -> int:
        return self.offline_s if offline else self.online_s

    async def issue(self, grant: RefreshGrant, access_jti: str, access_exp: int) -> str:
        """A refresh token, issued with the access token ``access_jti`` (revoked with its
        family)."""
        token = new_secret()
        context = grant.context
        await self.tokens.insert_one(
            {
                "_id": digest(token),
                "family": grant.family,
                "client_id": grant.client_id,
                "user_id": grant.user_id,
                "scope": grant.scope,
                "patient": context.patient,
                "encounter": context.encounter,
                "banner": context.need_patient_banner,
                "offline": grant.offline,
                "used": False,
                "access": {"jti": access_jti, "exp": access_exp},
                "expires": expiry(self.lifetime(grant.offline)),
            }
        )
        return token

    async def spend(self, token: str, client_id: str) -> RefreshGrant | None:
        """Use a refresh token once. A spent token presented again revokes its family."""
        key = digest(token)
        doc = await self.tokens.find_one_and_update(
            {
                "_id": key,
                "client_id": client_id,
                "used": False,
                "expires": {"$gt": datetime.now(UTC)},
            },
            {"$set": {"used": True}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            spent = await self.tokens.find_one({"_id": key, "used": True}, {"family": 1})
            if spent is not None:
                await self.revoke_family(spent["family"])
            return None
        return _grant_of(doc)

    async def find(self, token: str) -> RefreshGrant | None:
        """An unspent, unexpired refresh token (introspection)."""
        doc = await self.tokens.find_one(
            {"_id": digest(token), "used": False, "expires": {"$gt": datetime.now(UTC)}}
        )
        return None if doc is None else _grant_of(doc)

    async def revoke(self, token: str) -> bool:
        doc = await self.tokens.find_one({"_id": digest(token)}, {"family": 1})
        if doc is None:
            return False
        await self.revoke_family(doc["family"])
        return True

    async def revoke_family(self, family: str) -> None:
        """Every refresh token of the family, and the access tokens issued with them."""
        async for doc in self.tokens.find({"family": family}, {"access": 1}):
            await self.access_tokens.revoke_jti(doc["access"]["jti"], doc["access"]["exp"])
        await self.tokens.delete_many({"family": family})


def _grant_of(doc: dict[str, Any]) -> RefreshGrant:
    context = LaunchContext(doc["patient"], doc["encounter"], doc["banner"])
    return RefreshGrant(
        doc["family"], doc["client_id"], doc["user_id"], doc["scope"], context, doc["offline"]
    )
