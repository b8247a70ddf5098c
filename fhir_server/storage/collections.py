"""Collection names and indexes: one collection of current versions per resource type, and one
append-only collection of superseded versions beside it.

Current version document::

    {_id: logical id, v: version, ts: lastUpdated, del: true (deleted only),
     res: resource JSON with meta (floats), raw: exact JSON bytes (only when decimals must keep
     their digits), comp: [patient ids whose compartment holds it]}

Superseded version document (``<Type>_history``)::

    {rid: logical id, v, ts, end: when the next version replaced it, del, res, raw, comp}

A create is one insert. An update archives the current version first (idempotent: the unique
(rid, v) key makes a repeat a no-op) and then replaces the current document only if its version
is still the one read: a lost race never overwrites, and a crash in between leaves at worst a
duplicate of a version that readers drop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from fhir_server.search.index_plan import index_fields

Document = dict[str, Any]
HISTORY_SUFFIX = "_history"

CURRENT_INDEXES = [
    IndexModel([("ts", DESCENDING)], name="lastUpdated"),
    IndexModel([("comp", ASCENDING)], name="patientCompartment"),
]
HISTORY_INDEXES = [
    IndexModel([("rid", ASCENDING), ("v", DESCENDING)], name="idVersion", unique=True),
    IndexModel([("ts", DESCENDING)], name="lastUpdated"),
]


class Collections:
    """Typed access to a database's resource collections; makes sure indexes exist (once per
    type per process) before a collection is first used."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db
        self._ready: set[str] = set()
        self._lock = asyncio.Lock()

    async def current(self, rtype: str) -> AsyncCollection[Document]:
        if rtype not in self._ready:
            await self.ensure_indexes([rtype])
        return self.db[rtype]

    async def history(self, rtype: str) -> AsyncCollection[Document]:
        if rtype not in self._ready:
            await self.ensure_indexes([rtype])
        return self.db[rtype + HISTORY_SUFFIX]

    async def ensure_indexes(self, rtypes: Iterable[str]) -> None:
        async with self._lock:
            for rtype in rtypes:
                if rtype in self._ready:
                    continue
                search = [IndexModel([(f, ASCENDING)], name=f) for f in index_fields(rtype)]
                await self.db[rtype].create_indexes(CURRENT_INDEXES + search)
                await self.db[rtype + HISTORY_SUFFIX].create_indexes(HISTORY_INDEXES)
                self._ready.add(rtype)

    async def existing_types(self, known: Iterable[str]) -> list[str]:
        names = set(await self.db.list_collection_names())
        return sorted(t for t in known if t in names)
