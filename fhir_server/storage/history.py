"""History at instance, type and system level: the current and the superseded versions of each
type, merged newest first, paged by a keyset cursor so that concurrent writes never shift a page.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fhir_server.model.compartments import compartment_types
from fhir_server.model.resource_types import ON_REQUEST_ONLY
from fhir_server.storage.collections import Collections
from fhir_server.storage.versions import Version, version_from_document

# (lastUpdated, type, id, version) of the last entry of the previous page.
Cursor = tuple[datetime, str, str, int]


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    rtype: str | None = None  # None: whole system
    rid: str | None = None
    since: datetime | None = None
    at: tuple[datetime, datetime] | None = None  # versions current during [low, high)
    count: int = 50
    after: Cursor | None = None
    # Authorization: only these types (system history), and of the compartment types only
    # the versions in this patient's compartment.
    types: frozenset[str] | None = None
    compartment: str | None = None


@dataclass(frozen=True, slots=True)
class HistoryPage:
    versions: list[Version]
    next: Cursor | None


async def read_history(
    collections: Collections, query: HistoryQuery, known_types: Iterable[str]
) -> HistoryPage:
    if query.rtype is not None:
        rtypes = [query.rtype]
    else:
        rtypes = await collections.existing_types(known_types)
        rtypes = [rtype for rtype in rtypes if rtype not in ON_REQUEST_ONLY]
    if query.types is not None:
        rtypes = [rtype for rtype in rtypes if rtype in query.types]
    limit = query.count + 1
    streams: list[list[Version]] = []
    for rtype in rtypes:
        for rid_field, coll in (
            ("_id", await collections.current(rtype)),
            ("rid", await collections.history(rtype)),
        ):
            filter_ = _filter(rtype, rid_field, query)
            cursor = coll.find(filter_, {"comp": 0, "idx": 0}).sort(
                [("ts", -1), (rid_field, 1), ("v", -1)]
            )
            docs = await cursor.limit(limit).to_list()
            streams.append([version_from_document(rtype, d, rid_field) for d in docs])
    page: list[Version] = []
    last_key: tuple[str, str, int] | None = None
    for version in heapq.merge(*streams, key=lambda v: v.sort_key):
        key = (version.rtype, version.id, version.version)
        if key == last_key:
            continue  # a version archived by an update that then lost its race
        last_key = key
        page.append(version)
        if len(page) == limit:
            break
    if len(page) > query.count:
        page = page[: query.count]
        tail = page[-1]
        return HistoryPage(page, (tail.last_updated, tail.rtype, tail.id, tail.version))
    return HistoryPage(page, None)


def _filter(rtype: str, rid_field: str, query: HistoryQuery) -> dict[str, Any]:
    clauses: list[dict[str, Any]] = []
    if query.rid is not None:
        clauses.append({rid_field: query.rid})
    if query.compartment is not None and rtype in compartment_types():
        clauses.append({"comp": query.compartment})
    if query.since is not None:
        clauses.append({"ts": {"$gte": query.since}})
    if query.at is not None:
        low, high = query.at
        clauses.append({"ts": {"$lt": high}})
        if rid_field == "rid":
            clauses.append({"end": {"$gt": low}})
    if query.after is not None:
        clauses.append(_after(rtype, rid_field, query.after))
    if not clauses:
        return {}
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _after(rtype: str, rid_field: str, cursor: Cursor) -> dict[str, Any]:
    """Entries strictly after the cursor in (ts desc, type, id, version desc) order."""
    ts, c_type, c_id, c_version = cursor
    if rtype > c_type:
        return {"ts": {"$lte": ts}}
    if rtype < c_type:
        return {"ts": {"$lt": ts}}
    return {
        "$or": [
            {"ts": {"$lt": ts}},
            {"ts": ts, rid_field: {"$gt": c_id}},
            {"ts": ts, rid_field: c_id, "v": {"$lt": c_version}},
        ]
    }
