"""Writing AuditEvents: journaled at once, appended to the hash chain in the background.

``record`` appends the event to this process's journal (``journal.py``) and returns: the access
is on record before its answer leaves, and the answer does not wait for the database. A writer
task stores what is queued in batches (one ``insert_many`` each) while there is anything to
store, retrying with growing pauses while the database is away. Without a journal (a tool's
trail), ``record`` waits until its event is stored, as before the journal existed.

Each AuditEvent document carries its place in the chain: its sequence number (``seq``, a unique
key) and its hash (``chain``), also stated in the resource's chain extension. Several medrec
processes append to the same chain: two taking the same sequence number collide on the unique
key; the loser keeps what it wrote before the collision, re-reads the head and chains the rest
after it.

At start-up (``start``) the writer first adopts the journal files of processes that ended
before storing them: their events not already stored are chained after the head like any.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from fhir_server.storage.repository import Repository
from smart_auth.audit.chain import GENESIS, link
from smart_auth.audit.journal import Journal, Orphan, Segment

log = logging.getLogger(__name__)
AUDIT_TYPE = "AuditEvent"
SEQUENCE_FIELD = "seq"
HASH_FIELD = "chain"
MAX_BATCH = 200
MAX_ATTEMPTS = 20
DUPLICATE_KEY = 11000
FIRST_RETRY_S = 0.1
LAST_RETRY_S = 5.0
CLOSE_TIMEOUT_S = 30.0
ID_LOOKUP_BATCH = 1000

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
    def __init__(self, repository: Repository, journal: Journal | None = None) -> None:
        """``repository``: the unguarded one (the trail is written by the server itself)."""
        self.repository = repository
        self.journal = journal
        self._queue: deque[tuple[Event, Segment | None]] = deque()
        self._queued = 0  # events ever queued
        self._done = 0  # of those, events known to be stored (in queue order)
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self._orphans: list[Orphan] | None = None  # None: not looked for (yet)
        self._unsure = False  # a write failed midway: some of the next batch may be stored
        self._stopping = asyncio.Event()
        self._coll: AsyncCollection[Any] | None = None
        self._head: tuple[int, str] | None = None  # (sequence, hash) of the last event
        self.recorded = 0  # events this process stored

    def start(self) -> None:
        """Adopt the journal files of processes that ended (in the background: the database
        may not answer yet)."""
        if self.journal is not None and self._orphans is None:
            self._orphans = self.journal.orphans()
            self._wake()

    async def record(self, event: Event) -> None:
        """Put ``event`` (an AuditEvent with its id set) on record: in the journal, or without
        one in the database. Raises RuntimeError when it could not be."""
        segment = None
        if self.journal is not None:
            try:
                segment = self.journal.append(event)
            except OSError as error:
                log.error("could not write the audit journal: %s", type(error).__name__)
                raise RuntimeError("the audit trail could not be written") from None
        self._queue.append((event, segment))
        self._queued += 1
        if not self._stopping.is_set():
            self._wake()
        if self.journal is None:
            await self.flush()

    async def flush(self) -> None:
        """Returns once every event recorded before the call is stored; RuntimeError when a
        write fails first (the events stay queued, and journaled)."""
        if self._done >= self._queued:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((self._queued, done))
        self._wake()
        await done

    async def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Store what is queued, then stop (what cannot be stored stays in the journal for the
        next start). Asked, never cancelled: a cancellation inside a pymongo call can leave
        its client unable to close."""
        self._stopping.set()
        task = self._task
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=timeout_s)
            if not done:
                log.warning("the audit writer did not stop in time; its journal is kept")
        if self.journal is not None:
            self.journal.close()

    def _wake(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="medrec-audit-writer"
            )

    async def _run(self) -> None:
        """Write while there is anything to write; back off while the database fails."""
        pause = FIRST_RETRY_S
        while self._orphans or self._queue:
            try:
                if self._orphans:
                    await self._adopt_orphans()
                else:
                    await self._write_batch()
                pause = FIRST_RETRY_S
            except Exception as error:  # the writer outlives any failure
                # The type only: an error's text can quote the event, which is patient data.
                log.error("could not write the audit trail: %s; retrying", type(error).__name__)
                self._head = None
                self._unsure = True
                self._fail_waiters()
                if self._stopping.is_set():
                    return  # the rest waits in the journal
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), pause)
                pause = min(pause * 2, LAST_RETRY_S)

    async def _adopt_orphans(self) -> None:
        """Queue the events of ended processes' journals that are not stored yet (a process
        can end between storing events and removing their file)."""
        assert self.journal is not None and self._orphans
        while self._orphans:
            orphan = self._orphans[0]
            stored = await self._stored_ids([event["id"] for event in orphan.events])
            unstored = [event for event in orphan.events if event["id"] not in stored]
            self.journal.adopted(orphan, len(unstored))
            # Behind what is queued already: a flush waits for nothing that came after it.
            self._queue.extend((event, orphan.segment) for event in unstored)
            self._queued += len(unstored)
            self._orphans.pop(0)
            if unstored:
                log.warning("audit journal: %d event(s) of an ended process queued", len(unstored))

    async def _write_batch(self) -> None:
        batch = [self._queue[i] for i in range(min(MAX_BATCH, len(self._queue)))]
        events = [event for event, _ in batch]
        if self._unsure:  # the failed write may have stored some before failing
            stored = await self._stored_ids([event["id"] for event in events])
            events = [event for event in events if event["id"] not in stored]
            self._unsure = False
        await self._write(events)
        for _ in batch:
            self._queue.popleft()
        self._stored(batch)

    def _stored(self, batch: list[tuple[Event, Segment | None]]) -> None:
        self.recorded += len(batch)
        self._done += len(batch)
        if self.journal is not None:
            for _, segment in batch:
                if segment is not None:
                    self.journal.stored(segment)
        still = []
        for target, done in self._waiters:
            if target <= self._done:
                if not done.done():
                    done.set_result(None)
            else:
                still.append((target, done))
        self._waiters = still

    def _fail_waiters(self) -> None:
        waiters, self._waiters = self._waiters, []
        for _, done in waiters:
            if not done.done():
                done.set_exception(RuntimeError("the audit trail could not be written"))

    async def _stored_ids(self, ids: list[str]) -> set[str]:
        """Which of ``ids`` are stored AuditEvents already."""
        coll = await self._collection()
        found: set[str] = set()
        for start in range(0, len(ids), ID_LOOKUP_BATCH):
            chunk = ids[start : start + ID_LOOKUP_BATCH]
            async for doc in coll.find({"_id": {"$in": chunk}}, {"_id": 1}):
                found.add(doc["_id"])
        return found

    async def _collection(self) -> AsyncCollection[Any]:
        if self._coll is None:
            self._coll = await audit_collection(self.repository)
        return self._coll

    async def _write(self, events: list[Event]) -> None:
        coll = await self._collection()
        remaining = events
        for _ in range(MAX_ATTEMPTS):
            if not remaining:
                return
            if self._head is None:
                self._head = await chain_head(coll)
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
        if remaining:
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
