"""What the HL7 v2 feed keeps besides FHIR resources: the key of every applied message (sender
and MSH-10, written in the message's own transaction: a repeat is recognised, never applied
twice) and the dead letters (messages we could not apply, with the reason)."""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bson.binary import Binary
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import CollectionInvalid

APPLIED = "medrec_hl7_applied"
DEAD_LETTERS = "medrec_hl7_dead_letters"


@dataclass(frozen=True)
class DeadLetter:
    id: str  # SHA-256 of the raw message: the same message failing again is one letter
    received: datetime
    last_failed: datetime
    attempts: int
    sender: str
    control_id: str
    message_type: str
    reason: str
    raw: bytes


class MessageStore:
    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.db = db

    async def ensure(self) -> None:
        """The collections exist before any transaction writes to them."""
        existing = set(await self.db.list_collection_names())
        for name in (APPLIED, DEAD_LETTERS):
            if name not in existing:
                # CollectionInvalid: created meanwhile by another process
                with contextlib.suppress(CollectionInvalid):
                    await self.db.create_collection(name)

    @staticmethod
    def key(sender: str, control_id: str) -> str:
        return f"{sender}\x1f{control_id}"

    async def applied(self, key: str) -> str | None:
        """The content digest of the message applied with this key, or None."""
        found = await self.db[APPLIED].find_one({"_id": key}, {"digest": 1})
        return None if found is None else str(found.get("digest", ""))

    async def record(
        self, key: str, message_type: str, digest: str, session: AsyncClientSession
    ) -> None:
        """Inside the message's transaction: a second one with this key fails (duplicate key)."""
        document = {"_id": key, "type": message_type, "digest": digest, "at": datetime.now(UTC)}
        await self.db[APPLIED].insert_one(document, session=session)

    async def count_applied(self) -> int:
        return await self.db[APPLIED].count_documents({})

    # -- dead letters ------------------------------------------------------------------------

    async def dead_letter(
        self, raw: bytes, reason: str, sender: str, control_id: str, message_type: str
    ) -> str:
        digest = hashlib.sha256(raw).hexdigest()
        now = datetime.now(UTC)
        await self.db[DEAD_LETTERS].update_one(
            {"_id": digest},
            {
                "$set": {
                    "last_failed": now,
                    "reason": reason,
                    "sender": sender,
                    "control_id": control_id,
                    "type": message_type,
                },
                "$setOnInsert": {"received": now, "raw": Binary(raw)},
                "$inc": {"attempts": 1},
            },
            upsert=True,
        )
        return digest

    async def dead_letters(self, limit: int = 1000) -> list[DeadLetter]:
        cursor = self.db[DEAD_LETTERS].find().sort("received", 1).limit(limit)
        return [_letter(doc) async for doc in cursor]

    async def forget(self, letter_id: str) -> None:
        """A dead letter that was applied (or recognised as applied) on retry."""
        await self.db[DEAD_LETTERS].delete_one({"_id": letter_id})


def _letter(doc: dict[str, Any]) -> DeadLetter:
    return DeadLetter(
        doc["_id"],
        doc["received"],
        doc["last_failed"],
        int(doc.get("attempts", 1)),
        doc.get("sender", ""),
        doc.get("control_id", ""),
        doc.get("type", ""),
        doc.get("reason", ""),
        bytes(doc["raw"]),
    )
