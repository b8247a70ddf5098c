"""Bulk Data ``$export`` jobs: what a kick-off records, the exporter that writes the NDJSON, and
the background worker a ``medrec serve`` process runs it in.

Each type is read in ``_id`` order through one cursor (a batch at a time, never a whole
collection) and appended to byte-bounded part files ``<export dir>/<job>/<Type>.<n>.ndjson``.
Every ``CHUNK_LINES`` resources or ``CHUNK_BYTES`` bytes, whichever comes first, the lines are
written and the job records the last ``_id`` written and each part's byte length; a worker that
resumes a job (after a restart, or another process's expired lease) first cuts the current part
back to its recorded length, so nothing is written twice and nothing lost.

Resources changed while a job runs are exported in the version current when they are read: the
spec's ``transactionTime`` bound would drop them (their earlier version is history). A client's
next export with ``_since=<transactionTime>`` picks those changes up again either way.

The worker (``ExportWorker``) is started by ``medrec serve`` only (``MEDREC_EXPORT_WORKER``), not
by every app: an app built for tests or tools has none unless asked. Its ``stop`` never holds up
a shutdown for long: it asks the worker to stop and waits a bounded time (see ``stop``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from pymongo.errors import PyMongoError

from fhir_server.config import Settings
from fhir_server.model.ids import new_id
from fhir_server.search.filters import LIVE, Filter
from fhir_server.storage.collections import Collections
from fhir_server.storage.export_jobs import COMPLETE, FAILED, ExportJobs, current_bodies
from fhir_server.storage.versions import instant, utc_now_ms

log = logging.getLogger(__name__)
CHUNK_LINES = 1000  # resources written per checkpoint, at most
CHUNK_BYTES = 8 * 1024 * 1024  # bytes held before they are written (plus one resource)
LEASE_S = 60.0  # a job whose worker stops renewing is taken over after this
STOP_TIMEOUT_S = 5.0  # the longest a shutdown waits for the worker
SYSTEM, PATIENTS, GROUP = "system", "patients", "group"


@dataclass(frozen=True)
class ExportRequest:
    """``scope``: SYSTEM (every resource), PATIENTS (any patient compartment) or GROUP (the
    compartments of ``patients``)."""

    request: str
    types: list[str]
    since: datetime | None = None
    scope: str = SYSTEM
    patients: list[str] = field(default_factory=list)
    requester: str | None = None  # the client that asked: only it (or an admin) sees the job


@dataclass
class Part:
    type: str
    name: str
    count: int = 0
    bytes: int = 0

    def record(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "count": self.count, "bytes": self.bytes}


@dataclass
class _Progress:
    position: int
    after: str | None
    parts: list[Part] = field(default_factory=list)


async def kick_off(jobs: ExportJobs, export: ExportRequest) -> str:
    job_id = new_id()
    await jobs.create(
        {
            "_id": job_id,
            "request": export.request,
            "types": export.types,
            "since": export.since,
            "scope": export.scope,
            "patients": export.patients,
            "requester": export.requester,
            "transactionTime": instant(utc_now_ms()),
            "position": 0,
            "after": None,
            "parts": [],
        }
    )
    return job_id


def job_dir(export_dir: Path, job_id: str) -> Path:
    return export_dir / job_id


def remove_files(export_dir: Path, job_id: str) -> None:
    shutil.rmtree(job_dir(export_dir, job_id), ignore_errors=True)


class _Lost(Exception):
    """The job was cancelled, or another worker took it over."""


class _Stopping(Exception):
    """The worker was asked to stop: it has recorded what it wrote and gives the job back."""


def _raise_if_cancelled() -> None:
    """A cancellation that arrives while a pymongo call is in flight can be lost there: the
    call returns and the task carries on, marked ``cancelling()``. The first worker, started in
    every lifespan and stopped by cancel alone, then kept polling for ever, and the lifespan
    awaiting it never ended: the stall of the long test runs (pymongo 4.20, Python 3.11). The
    worker is stopped by a flag now; should anything still cancel it, it checks the mark."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


@dataclass
class Exporter:
    jobs: ExportJobs
    collections: Collections
    export_dir: Path
    part_bytes: int
    lease_s: float = LEASE_S
    chunk_lines: int = CHUNK_LINES
    chunk_bytes: int = CHUNK_BYTES
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, poll_s: float) -> None:
        """Claim and run jobs until ``stopping`` is set (or the task is cancelled); idle at most
        ``poll_s`` seconds between looks, less when ``wake`` is set (a kick-off here)."""
        while not self.stopping.is_set():
            worked = await self.run_next()
            _raise_if_cancelled()
            if not worked:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._idle(), poll_s)

    async def _idle(self) -> None:
        waits = [asyncio.ensure_future(e.wait()) for e in (self.stopping, self.wake)]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

    async def run_next(self) -> bool:
        """Claim one job and run it; False when there was none to claim."""
        try:
            job = await self.jobs.claim(self.owner, self.lease_s)
        except PyMongoError as error:
            _raise_if_cancelled()
            log.warning("export worker: database unavailable: %s", type(error).__name__)
            return False
        if job is None:
            return False
        try:
            await self._run_one(job)
        except PyMongoError as error:  # while recording a failure, or a cancel's clean-up
            _raise_if_cancelled()
            log.warning("export %s interrupted: %s", job["_id"], type(error).__name__)
        return True

    async def _run_one(self, job: dict[str, Any]) -> None:
        job_id = job["_id"]
        try:
            await self.export(job)
        except _Stopping:
            with contextlib.suppress(PyMongoError):
                await self.jobs.release(job_id, self.owner)
        except _Lost:
            if await self.jobs.get(job_id) is None:  # cancelled: its files go too
                await asyncio.to_thread(remove_files, self.export_dir, job_id)
        except (PyMongoError, OSError) as error:
            _raise_if_cancelled()
            # Transient, most likely: the lease expires and a worker tries again.
            log.warning("export %s interrupted: %s", job_id, type(error).__name__)
        except Exception as error:
            log.exception("export %s failed", job_id)
            await self.jobs.finish(job_id, self.owner, FAILED, error=type(error).__name__)

    async def export(self, job: dict[str, Any]) -> None:
        types: list[str] = job["types"]
        progress = _Progress(job["position"], job["after"], [Part(**p) for p in job["parts"]])
        stored = await self.collections.existing_types(types)
        for position in range(progress.position, len(types)):
            rtype = types[position]
            if rtype in stored:  # a type never stored has no collection to read (or create)
                await self._export_type(job, rtype, progress)
            progress.position, progress.after = position + 1, None
            await self._checkpoint(job["_id"], progress)
            if self.stopping.is_set() and progress.position < len(types):
                raise _Stopping
        if not await self.jobs.finish(job["_id"], self.owner, COMPLETE):
            raise _Lost

    async def _export_type(self, job: dict[str, Any], rtype: str, progress: _Progress) -> None:
        lines: list[bytes] = []
        size = 0
        last: str | None = None
        bodies = current_bodies(
            self.collections, rtype, _filter(job), progress.after, self.chunk_lines
        )
        async with contextlib.aclosing(bodies):  # its cursor is closed however this ends
            async for rid, body in bodies:
                # Stored bodies are compact JSON (orjson): no newline but the one ending a line.
                lines.append(body + b"\n")
                size += len(body) + 1
                last = rid
                stopping = self.stopping.is_set()
                if stopping or len(lines) >= self.chunk_lines or size >= self.chunk_bytes:
                    await self._write_chunk(job["_id"], rtype, lines, last, progress)
                    lines, size = [], 0
                    _raise_if_cancelled()
                    if stopping:
                        raise _Stopping
        if lines:
            await self._write_chunk(job["_id"], rtype, lines, last, progress)

    async def _write_chunk(
        self, job_id: str, rtype: str, lines: list[bytes], last: str | None, progress: _Progress
    ) -> None:
        await asyncio.to_thread(self._write, job_id, rtype, lines, progress.parts)
        progress.after = last
        await self._checkpoint(job_id, progress)

    async def _checkpoint(self, job_id: str, progress: _Progress) -> None:
        ours = await self.jobs.checkpoint(
            job_id,
            self.owner,
            self.lease_s,
            position=progress.position,
            after=progress.after,
            parts=[part.record() for part in progress.parts],
        )
        if not ours:
            raise _Lost

    def _write(self, job_id: str, rtype: str, lines: list[bytes], parts: list[Part]) -> None:
        """Append ``lines`` to the type's parts, starting a new part when one would pass
        ``part_bytes`` (a part holds at least one line, however large)."""
        folder = job_dir(self.export_dir, job_id)
        folder.mkdir(parents=True, exist_ok=True)
        part = parts[-1] if parts and parts[-1].type == rtype else None
        handle: BinaryIO | None = None
        try:
            for line in lines:
                if part is None or (part.count and part.bytes + len(line) > self.part_bytes):
                    if handle is not None:
                        _close(handle)
                        handle = None
                    n = sum(1 for p in parts if p.type == rtype) + 1
                    part = Part(rtype, f"{rtype}.{n}.ndjson")
                    parts.append(part)
                if handle is None:
                    handle = _open_at(folder / part.name, part.bytes)
                handle.write(line)
                part.count += 1
                part.bytes += len(line)
        finally:
            if handle is not None:
                _close(handle)


class ExportWorker:
    """An ``Exporter`` running in the background of one process, from the lifespan's start to
    its end. Safe beside workers of other processes on the same database (see
    storage/export_jobs.py)."""

    def __init__(self, exporter: Exporter, poll_s: float) -> None:
        self.exporter = exporter
        self.poll_s = poll_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="medrec-export-worker")

    async def _run(self) -> None:
        with contextlib.suppress(PyMongoError):
            await self.exporter.jobs.ensure_indexes()
        await self.exporter.run(self.poll_s)

    def wake(self) -> None:
        """A job was just queued: look now rather than at the next poll."""
        self.exporter.wake.set()

    async def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> bool:
        """Ask the worker to stop and wait ``timeout_s`` seconds at most; True when it stopped.

        An idle worker leaves at once; a busy one after the resource it is on: it writes and
        records what it has, and hands its job back for the next worker to resume.

        Asked, never cancelled: a cancellation landing inside a pymongo call can be lost there
        (the stall of the first version), or leave the client's topology lock held so that
        closing the client hangs (seen with pymongo 4.20 on Python 3.11, when a task in server
        selection is cancelled). A worker that has not stopped in time (waiting on a database
        that does not answer, say) is left to fail once the client is closed, with a warning;
        its job resumes from its last checkpoint when its lease runs out."""
        task = self._task
        if task is None:
            return True
        self.exporter.stopping.set()
        done, _ = await asyncio.wait({task}, timeout=timeout_s)
        if not done:
            log.warning("the export worker did not stop in time; its job resumes after its lease")
            return False
        if not task.cancelled() and task.exception() is not None:
            log.error("the export worker had stopped on an error", exc_info=task.exception())
        return True


def start_worker(settings: Settings, jobs: ExportJobs, collections: Collections) -> ExportWorker:
    """A worker for this process, running: ``medrec serve``'s lifespan starts one (as
    MEDREC_EXPORT_WORKER says), tests start theirs."""
    exporter = Exporter(jobs, collections, settings.export_path, settings.export_part_bytes)
    worker = ExportWorker(exporter, settings.export_poll_s)
    worker.start()
    return worker


def _filter(job: dict[str, Any]) -> Filter:
    # Leading field: the index that answers it (see search/filters.py); without one, the
    # cursor walks _id in order, which is the order an export is written in.
    query: Filter = {}
    if job["since"] is not None:
        query["ts"] = {"$gte": job["since"]}
    if job["scope"] == GROUP:
        query["comp"] = {"$in": job["patients"]}
    query.update(LIVE)
    if job["scope"] == PATIENTS:
        query["comp"] = {"$exists": True}
    return query


def _open_at(path: Path, length: int) -> BinaryIO:
    """The part opened for appending after its first ``length`` bytes: anything past them was
    written by a worker that stopped before recording it, and is written again now."""
    handle = open(path, "r+b") if path.exists() else open(path, "wb")  # noqa: SIM115
    handle.truncate(length)
    handle.seek(length)
    return handle


def _close(handle: BinaryIO) -> None:
    # On disk before the checkpoint that counts these bytes is written.
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()
