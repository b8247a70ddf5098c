"""The version of the stored search index values (``idx``, ``srt``, ``srd``), so that data
written by an older medrec is noticed: its searches could miss resources until
``medrec reindex`` rewrites them."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from fhir_server.model.resource_types import supported_types
from fhir_server.storage.collections import Collections

# 1: the first release; 2: date parameters' WIDE marker and sort values; 3: quantities in
# canonical UCUM units (both 2026-11-29).
INDEX_FORMAT = 3
META_COLLECTION = "medrec_meta"
_KEY = "searchIndexFormat"


async def stale_format(db: AsyncDatabase[Any], has_resources: bool) -> int | None:
    """The older format the database's index values are in, or None when current. A database
    without resources is current by definition (and recorded as such)."""
    doc = await db[META_COLLECTION].find_one({"_id": _KEY})
    stored = int(doc["version"]) if doc else (1 if has_resources else None)
    if stored is None:
        await record_format(db)
        return None
    return stored if stored < INDEX_FORMAT else None


async def mark_if_fresh(collections: Collections) -> None:
    """Before the first write to a database without resources (``medrec demo``, ``medrec
    load``): record that what follows is written in the current format, so that the server
    does not take it for old data."""
    await stale_format(collections.db, await has_resources(collections))


async def has_resources(collections: Collections) -> bool:
    """Is any resource stored? (Collections alone do not say: reading a type creates its
    collection.)"""
    for rtype in await collections.existing_types(supported_types()):
        if await collections.db[rtype].find_one({}, {"_id": 1}) is not None:
            return True
    return False


async def record_format(db: AsyncDatabase[Any]) -> None:
    await db[META_COLLECTION].replace_one(
        {"_id": _KEY}, {"_id": _KEY, "version": INDEX_FORMAT}, upsert=True
    )
