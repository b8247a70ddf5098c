"""Checking the audit chain end to end: every event in sequence, unchanged, pointing at the
hash of the one before it. Names the first broken link."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from smart_auth.audit.chain import GENESIS, chain_values, event_hash
from smart_auth.audit.trail import AUDIT_TYPE, HASH_FIELD, SEQUENCE_FIELD

PROGRESS_EVERY = 1000


@dataclass(frozen=True)
class Verdict:
    checked: int
    broken_at: int | None = None  # the sequence number of the first broken link
    reason: str = ""

    @property
    def intact(self) -> bool:
        return self.broken_at is None


async def verify_chain(
    db: AsyncDatabase[Any], progress: Callable[[int], None] | None = None
) -> Verdict:
    events = db[AUDIT_TYPE]
    previous = GENESIS
    checked = 0
    cursor = events.find(
        {SEQUENCE_FIELD: {"$exists": True}}, {"res": 1, SEQUENCE_FIELD: 1, HASH_FIELD: 1}
    ).sort(SEQUENCE_FIELD, 1)
    async for doc in cursor:
        expected = checked + 1
        reason = _broken(doc, expected, previous)
        if reason:
            return Verdict(checked, min(doc[SEQUENCE_FIELD], expected), reason)
        previous = doc[HASH_FIELD]
        checked += 1
        if progress is not None and checked % PROGRESS_EVERY == 0:
            progress(checked)
    if progress is not None:
        progress(checked)
    return Verdict(checked)


def _broken(doc: dict[str, Any], expected: int, previous: str) -> str:
    """Why this event breaks the chain ("" when it does not)."""
    sequence = doc[SEQUENCE_FIELD]
    if sequence != expected:
        return f"event {expected} is missing"
    event = doc.get("res")
    stated = chain_values(event) if isinstance(event, dict) else None
    if event is None or stated is None:
        return "the event has lost its chain extension"
    if stated[0] != sequence or stated[1] != previous:
        return "the event does not follow the one before it"
    digest = event_hash(event)
    if digest != stated[2] or digest != doc.get(HASH_FIELD):
        return "the event was changed after it was recorded"
    return ""
