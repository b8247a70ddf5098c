"""Writing AuditEvents: appended to the hash chain in batches (group commit).

A request waits until its event is stored (an access is not answered before it is on record),
but concurrent requests share the writes: whoever finds no write in progress writes everything
queued, in one ``insert_many``. Each AuditEvent document carries its place in the chain: its
sequence number (``seq``, a unique key) and its hash (``chain``), also stated in the resource's
chain extension.

Several medrec processes append to the same chain: two taking the same sequence number collide
on the unique key; the loser keeps what it wrote before the collision, re-reads the head and
chains the rest after it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from fhir_server.storage.repository import Repository
from smart_auth.audit.chain import GENESIS, link

log = logging.getLogger(__name__)
AUDIT_TYPE = "AuditEvent"
SEQUENCE_FIELD = "seq"
HASH_FIELD = "chain"
MAX_BATCH = 200
MAX_ATTEMPTS = 20
DUPLICATE_KEY = 11000

Event = dict[str, Any]


async def audit_collection(repository: Repository) -> AsyncCollection[Any]:
    """The AuditEvent collection, with the chain's unique sequence index."""
    coll = await repository.collections.current(AUDIT_TYPE)
    await coll.create_index(
        SEQUENCE_FIELD,
        unique=True,
        name="auditChain",
        partialFilterExpression={SEQUENCE_FIELD: {"$exists": True}},
    )
    return coll


class AuditTrail:
    def __init__(self, repository: Repository) -> None:
        """``repository``: the unguarded one (the trail is written by the server itself)."""
        self.repository = repository
        self._pending: list[tuple[Event, asyncio.Future[None]]] = []
        self._writing = False
        self._coll: AsyncCollection[Any] | None = None
        self._head: tuple[int, str] | None = None  # (sequence, hash) of the last event
        self.recorded = 0  # events this process stored

    async def record(self, event: Event) -> None:
        """Append ``event`` (an AuditEvent with its id set); returns once it is stored."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((event, done))
        if not self._writing:
            await self._drain()
        await done

    async def _drain(self) -> None:
        self._writing = True
        try:
            while self._pending:
                batch = self._pending[:MAX_BATCH]
                del self._pending[:MAX_BATCH]
                try:
                    await self._write([event for event, _ in batch])
                except BaseException as error:
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(RuntimeError("the audit trail could not be written"))
                    self._head = None
                    if not isinstance(error, Exception):
                        raise
                    log.error("could not write the audit trail: %s", type(error).__name__)
                    continue
                self.recorded += len(batch)
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)
        finally:
            self._writing = False
            if self._pending:  # the writer was cancelled: someone must write the rest
                asyncio.get_running_loop().create_task(self._drain())

    async def _write(self, events: list[Event]) -> None:
        if self._coll is None:
            self._coll = await audit_collection(self.repository)
        remaining = events
        for _ in range(MAX_ATTEMPTS):
            if self._head is None:
                self._head = await chain_head(self._coll)
            chained = _chained(remaining, *self._head)
            try:
                await self.repository.insert_trusted(AUDIT_TYPE, chained)
                written = len(chained)
            except BulkWriteError as error:
                if any(e.get("code") != DUPLICATE_KEY for e in error.details["writeErrors"]):
                    raise
                written = error.details["nInserted"]  # before another process's number
            if written:
                last = chained[written - 1][2]
                self._head = (last[SEQUENCE_FIELD], last[HASH_FIELD])
            if written < len(chained):
                self._head = None
            remaining = remaining[written:]
            if not remaining:
                return
        raise RuntimeError("the audit chain kept conflicting with other writers")


async def chain_head(coll: AsyncCollection[Any]) -> tuple[int, str]:
    last = await coll.find_one(
        {SEQUENCE_FIELD: {"$exists": True}},
        {SEQUENCE_FIELD: 1, HASH_FIELD: 1},
        sort=[(SEQUENCE_FIELD, -1)],
    )
    return (last[SEQUENCE_FIELD], last[HASH_FIELD]) if last else (0, GENESIS)


def _chained(
    events: list[Event], sequence: int, previous: str
) -> list[tuple[Event, str, dict[str, Any]]]:
    """(event with its chain extension, id, the chain fields its document carries)."""
    out = []
    for event in events:
        sequence += 1
        chained = {key: value for key, value in event.items() if key != "extension"}
        chained["extension"] = list(event.get("extension", []))
        previous = link(chained, sequence, previous)
        out.append((chained, chained["id"], {SEQUENCE_FIELD: sequence, HASH_FIELD: previous}))
    return out
