"""``medrec reindex``: recompute the search index values of stored resources (after the search
parameter definitions or the extraction changed). Resumable: progress is checkpointed per type
after every batch, so an interrupted run continues where it stopped."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from fhir_server.search.indexing import index_resource, last_updated_entries
from fhir_server.search.sorting import sort_values
from fhir_server.storage.collections import Collections
from fhir_server.storage.versions import instant

STATE_COLLECTION = "medrec_reindex"
BATCH = 200

# (resource type, resources done, resources in the type) after each batch.
Progress = Callable[[str, int, int], None]


async def reindex(
    collections: Collections, rtypes: list[str], progress: Progress, *, restart: bool = False
) -> tuple[int, int]:
    """Reindex the current versions of ``rtypes``; return how many resources were checked and
    how many had index values that changed."""
    state = collections.db[STATE_COLLECTION]
    checked = rewritten = 0
    for rtype in rtypes:
        if restart:
            await state.delete_one({"_id": rtype})
        saved = await state.find_one({"_id": rtype})
        if saved is not None and saved.get("done"):
            continue
        after = saved["after"] if saved else None
        done = saved["count"] if saved else 0
        coll = await collections.current(rtype)
        total = await coll.estimated_document_count()
        while True:
            filter_: dict[str, Any] = {"_id": {"$gt": after}} if after is not None else {}
            cursor = coll.find(filter_, {"res": 1, "raw": 1, "v": 1, "ts": 1, "del": 1})
            batch = await cursor.sort([("_id", 1)]).limit(BATCH).to_list()
            if not batch:
                break
            for doc in batch:
                if doc.get("del"):
                    continue
                index = index_resource(rtype, _resource(doc))
                fields = {"srt": {}, "srd": {}, **sort_values(rtype, index)}
                index["_lastUpdated"] = last_updated_entries(instant(doc["ts"]))
                # A newer version written meanwhile was indexed by its own write: leave it.
                result = await coll.update_one(
                    {"_id": doc["_id"], "v": doc["v"]}, {"$set": {"idx": index, **fields}}
                )
                checked += 1
                rewritten += result.modified_count
            after = batch[-1]["_id"]
            done += len(batch)
            await state.replace_one(
                {"_id": rtype}, {"_id": rtype, "after": after, "count": done}, upsert=True
            )
            progress(rtype, done, max(total, done))
        await state.replace_one({"_id": rtype}, {"_id": rtype, "done": True}, upsert=True)
    await state.delete_many({"_id": {"$in": rtypes}, "done": True})
    return checked, rewritten


def _resource(doc: dict[str, Any]) -> dict[str, Any]:
    raw = doc.get("raw")
    if raw is not None:
        parsed: dict[str, Any] = json.loads(bytes(raw), parse_float=Decimal)
        return parsed
    resource: dict[str, Any] = doc["res"]
    return resource
