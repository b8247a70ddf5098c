"""Bulk export job records (``medrec_export_jobs``), the durable state of every ``$export``, and
the streaming read of current resources that the export worker writes out.

A job document::

    {_id: job id, state: queued | running | complete | failed, created: datetime,
     request: the kick-off URL, types: [resource types, in export order], since: datetime | None,
     scope: system | patients | group, patients: [ids] (a group's members),
     transactionTime: FHIR instant, position: index in types of the type being written,
     after: last _id written of that type, parts: [{type, name, count, bytes}],
     lease: datetime, owner: worker id | None, error: text (failed only)}

A worker owns a job while its lease runs. It claims one with a single atomic
``find_one_and_update`` on a job whose lease has expired (a queued job's lease is the epoch), so
several processes sharing the database never work on the same job, and a job whose worker died
(or whose process restarted) is taken over by the next worker once its lease runs out. Every
progress write names the owner: a worker that lost its lease, or whose job was cancelled (i.e.
deleted), learns it at its next write and stops.

Leases are compared with each process's own clock: processes sharing a database need clocks
within a small fraction of the lease (NTP gives milliseconds; leases are a minute).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from fhir_server.search.filters import Filter
from fhir_server.search.index_plan import served_fields
from fhir_server.storage.collections import Collections, Document

COLLECTION = "medrec_export_jobs"
QUEUED, RUNNING, COMPLETE, FAILED = "queued", "running", "complete", "failed"
_NEVER = datetime(1970, 1, 1, tzinfo=UTC)
_BODY = {"res": 1, "raw": 1}


class ExportJobs:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._coll = db[COLLECTION]

    async def ensure_indexes(self) -> None:
        await self._coll.create_indexes([IndexModel([("state", ASCENDING)], name="state")])

    async def create(self, job: Document) -> None:
        now = datetime.now(UTC)
        await self._coll.insert_one(
            {**job, "state": QUEUED, "created": now, "lease": _NEVER, "owner": None}
        )

    async def get(self, job_id: str) -> Document | None:
        return await self._coll.find_one({"_id": job_id})

    async def claim(self, owner: str, lease_s: float) -> Document | None:
        """The oldest claimable job (queued, or running under an expired lease), now leased to
        ``owner``; None when there is none. One atomic update: two workers never both win."""
        now = datetime.now(UTC)
        return await self._coll.find_one_and_update(
            {"state": {"$in": [QUEUED, RUNNING]}, "lease": {"$lt": now}},
            {"$set": {"state": RUNNING, "owner": owner, "lease": now + timedelta(seconds=lease_s)}},
            sort=[("created", 1), ("_id", 1)],
            return_document=ReturnDocument.AFTER,
        )

    async def checkpoint(self, job_id: str, owner: str, lease_s: float, **fields: Any) -> bool:
        """Record progress and extend the lease; False: the job is no longer ours."""
        lease = datetime.now(UTC) + timedelta(seconds=lease_s)
        result = await self._coll.update_one(
            {"_id": job_id, "owner": owner, "state": RUNNING},
            {"$set": {**fields, "lease": lease}},
        )
        return result.matched_count == 1

    async def release(self, job_id: str, owner: str) -> bool:
        """Hand a running job back (its worker is stopping): the next worker resumes it at once
        instead of after the lease."""
        result = await self._coll.update_one(
            {"_id": job_id, "owner": owner, "state": RUNNING},
            {"$set": {"lease": _NEVER, "owner": None}},
        )
        return result.matched_count == 1

    async def finish(self, job_id: str, owner: str, state: str, **fields: Any) -> bool:
        result = await self._coll.update_one(
            {"_id": job_id, "owner": owner, "state": RUNNING},
            {"$set": {**fields, "state": state, "owner": None}},
        )
        return result.matched_count == 1

    async def delete(self, job_id: str) -> bool:
        result = await self._coll.delete_one({"_id": job_id})
        return result.deleted_count == 1


async def current_bodies(
    collections: Collections, rtype: str, query: Filter, after: str | None, batch_size: int
) -> AsyncGenerator[tuple[str, bytes], None]:
    """(id, resource JSON) of the current resources of ``rtype`` matching ``query``, in ``_id``
    order, strictly after the id ``after``: one cursor, read batch by batch.

    One cursor rather than keyset pages (as search reads): a page re-runs the query, and a
    query led by an indexed field (``ts`` for ``_since``, ``comp`` for a group) would sort its
    matches again for every page. A query led by no indexed field walks ``_id_`` in order
    (hinted, as ``Repository.search`` does; see ``repository.access_path``)."""
    coll = await collections.current(rtype)
    if after is not None:
        query = {**query, "_id": {"$gt": after}}
    cursor = coll.find(query, _BODY, batch_size=batch_size).sort([("_id", 1)])
    if next(iter(query), None) not in served_fields(rtype):
        cursor = cursor.hint("_id_")
    try:
        async for doc in cursor:
            raw = doc.get("raw")
            if raw is not None:
                yield doc["_id"], bytes(raw)
            elif doc.get("res") is not None:
                yield doc["_id"], orjson.dumps(doc["res"])
    finally:
        await cursor.close()
