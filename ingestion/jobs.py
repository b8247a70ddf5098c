"""Durable scan ingestion jobs (``medrec_ingest_jobs``): one per file, shared by every worker.

A job document::

    {_id: job id, sha256: the file's (unique: a file already submitted is not ingested again),
     name: the file's name as given, path: where its bytes are kept, size, state: queued |
     running | complete | failed, created, finished, lease, owner, attempts,
     pages: [{page, status: read | separator | error, error?, rows?, accepted?}],
     documents: [{number, pages, status: committed | review | already | refused, document_id?,
                  document_reference?, observations, tasks, error?}],
     error: why the whole file could not be read (complete) or the job gave up (failed)}

Claiming is one atomic ``find_one_and_update`` on a job that is queued, or running under an
expired lease (its worker died): several processes or machines share the queue and never work
on one job at once; a restarted process resumes what it held once the lease runs out. While a
job runs, its lease is renewed. A resumed job reads its file again and commits each document
again: ``commit.py`` recognises a document committed before from the same file, so nothing is
written twice. Bad input is a result, not a failure: an unreadable file or page is recorded and
the job completes. An unexpected error is retried ``MAX_ATTEMPTS`` times, then the job fails
with the error's type (never its text: it could quote a file's contents).

Job records name files, pages and counts; no patient data.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

from fhir_server.errors import FhirError
from ingestion.scans.commit import Committed, Committer, DuplicateDocument, Scan
from ingestion.scans.document import ScannedDocument, documents
from ingestion.scans.pdf import document_content
from ingestion.scans.pipeline import FileReading, PageFailure
from ingestion.scans.pool import PagePool, PoolClosed

log = logging.getLogger(__name__)

COLLECTION = "medrec_ingest_jobs"
QUEUED, RUNNING, COMPLETE, FAILED = "queued", "running", "complete", "failed"
LEASE_S = 120.0
MAX_ATTEMPTS = 3
_NEVER = datetime(1970, 1, 1, tzinfo=UTC)
Job = dict[str, Any]
Progress = Callable[[str, int, int], None]  # (what, done, total)


@dataclass(frozen=True, slots=True)
class Submitted:
    job_id: str
    created: bool  # False: the same file (SHA-256) was submitted before


class IngestJobs:
    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self._coll = db[COLLECTION]

    async def ensure_indexes(self) -> None:
        await self._coll.create_indexes(
            [
                IndexModel([("sha256", ASCENDING)], name="sha256", unique=True),
                IndexModel([("state", ASCENDING), ("lease", ASCENDING)], name="claim"),
            ]
        )

    async def submit(self, sha256: str, name: str, path: Path, size: int) -> Submitted:
        job_id = secrets.token_hex(12)
        document = {
            "_id": job_id,
            "sha256": sha256,
            "name": name,
            "path": str(path),
            "size": size,
            "state": QUEUED,
            "created": datetime.now(UTC),
            "lease": _NEVER,
            "owner": None,
            "attempts": 0,
            "pages": [],
            "documents": [],
        }
        try:
            await self._coll.insert_one(document)
        except DuplicateKeyError:
            existing = await self._coll.find_one({"sha256": sha256}, {"_id": 1, "state": 1})
            if existing is None:  # deleted meanwhile: try once more
                return await self.submit(sha256, name, path, size)
            if existing["state"] in (COMPLETE, FAILED):  # read before: its copy is not needed
                await asyncio.to_thread(path.unlink, missing_ok=True)
            return Submitted(str(existing["_id"]), False)
        return Submitted(job_id, True)

    async def get(self, job_id: str) -> Job | None:
        return await self._coll.find_one({"_id": job_id})

    async def claim(
        self, owner: str, lease_s: float = LEASE_S, job_id: str | None = None
    ) -> Job | None:
        """The oldest claimable job (or ``job_id``), leased to ``owner``; None if there is none."""
        now = datetime.now(UTC)
        query: dict[str, Any] = {"state": {"$in": [QUEUED, RUNNING]}, "lease": {"$lt": now}}
        if job_id is not None:
            query["_id"] = job_id
        return await self._coll.find_one_and_update(
            query,
            {
                "$set": {
                    "state": RUNNING,
                    "owner": owner,
                    "lease": now + timedelta(seconds=lease_s),
                },
                "$inc": {"attempts": 1},
            },
            sort=[("created", 1), ("_id", 1)],
            return_document=ReturnDocument.AFTER,
        )

    async def update(
        self, job_id: str, owner: str, lease_s: float = LEASE_S, **fields: Any
    ) -> bool:
        """Record progress and renew the lease; False: the job is no longer ours."""
        lease = datetime.now(UTC) + timedelta(seconds=lease_s)
        result = await self._coll.update_one(
            {"_id": job_id, "owner": owner, "state": RUNNING}, {"$set": {**fields, "lease": lease}}
        )
        return result.matched_count == 1

    async def finish(self, job_id: str, owner: str, state: str, **fields: Any) -> bool:
        now = datetime.now(UTC)
        result = await self._coll.update_one(
            {"_id": job_id, "owner": owner, "state": RUNNING},
            {"$set": {**fields, "state": state, "owner": None, "finished": now}},
        )
        return result.matched_count == 1

    async def release(self, job_id: str, owner: str, *, retry: bool) -> None:
        """Hand a job back at once for the next worker: ``retry`` after a failed attempt (it
        counts), else because its worker stops (it does not)."""
        await self._coll.update_one(
            {"_id": job_id, "owner": owner, "state": RUNNING},
            {"$set": {"lease": _NEVER, "owner": None}, "$inc": {"attempts": 0 if retry else -1}},
        )


class _Stopping(Exception):
    """The runner was closed: the job goes back to the queue, not counted as an attempt."""


class JobRunner:
    """Runs claimed jobs: the pipeline in the page pool's worker processes (PDFium and
    Tesseract are not thread-safe), the commits on the event loop."""

    def __init__(
        self, jobs: IngestJobs, committer: Committer, pages: PagePool, *, lease_s: float = LEASE_S
    ) -> None:
        self.jobs = jobs
        self.committer = committer
        self.pages = pages
        self.owner = f"worker-{secrets.token_hex(6)}"
        self.lease_s = lease_s
        self._closed = False

    async def ensure(self) -> None:
        """Indexes and collections, before the first job (and before any transaction)."""
        await self.jobs.ensure_indexes()
        await self.committer.ensure()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stops the page pool at once: a job being read goes back to the queue; one being
        committed stops after its current document (never cancelled inside a database call)."""
        self._closed = True
        self.pages.close()

    async def run_next(
        self, job_id: str | None = None, progress: Progress | None = None
    ) -> Job | None:
        """Claim a job (``job_id``, or the oldest) and run it to its end; None: nothing to do."""
        job = await self.jobs.claim(self.owner, self.lease_s, job_id)
        if job is None:
            return None
        done = asyncio.Event()
        keeper = asyncio.create_task(self._keep_lease(job["_id"], done))
        try:
            await self._run(job, progress or (lambda what, done, total: None))
        except asyncio.CancelledError:
            await asyncio.shield(self.jobs.release(job["_id"], self.owner, retry=False))
            raise
        except (PoolClosed, _Stopping):
            with contextlib.suppress(PyMongoError):  # else its lease runs out
                await self.jobs.release(job["_id"], self.owner, retry=False)
        except (PyMongoError, OSError) as error:  # the database or disk: resumed later
            log.warning("scan job %s interrupted: %s", job["_id"], type(error).__name__)
        except Exception as error:  # a bug on some input: retried, then given up
            # The type only: an exception's text can quote what a page says.
            log.error("scan job %s failed: %s", job["_id"], type(error).__name__)
            if job.get("attempts", 1) >= MAX_ATTEMPTS:
                reason = f"gave up after {MAX_ATTEMPTS} attempts ({type(error).__name__})"
                await self._finish(job, FAILED, error=reason)
            else:
                await self.jobs.release(job["_id"], self.owner, retry=True)
        finally:
            done.set()  # not cancelled: it may be inside a database call
            await keeper
        return await self.jobs.get(job["_id"])

    async def _keep_lease(self, job_id: str, done: asyncio.Event) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), self.lease_s / 3)
                return
            with contextlib.suppress(PyMongoError):
                await self.jobs.update(job_id, self.owner, self.lease_s)

    async def _run(self, job: Job, progress: Progress) -> None:
        job_id = job["_id"]
        progress("reading", 0, 1)
        try:
            data = await asyncio.to_thread(Path(job["path"]).read_bytes)
        except FileNotFoundError:
            await self._finish(job, COMPLETE, error="the uploaded file is gone")
            return
        reading = await self.read_file(data)
        pages = page_results(reading)
        if reading.error is not None:
            await self._finish(job, COMPLETE, pages=pages, error=reading.error)
            return
        if not await self.jobs.update(job_id, self.owner, self.lease_s, pages=pages):
            return  # lost the lease: another worker has the job now
        found = documents(reading)
        results: list[dict[str, Any]] = []
        for document in found:
            if self._closed:
                raise _Stopping
            progress("committing", len(results), len(found))
            single = len(found) == 1
            scan = await asyncio.to_thread(document_content, document, reading, data, single=single)
            source = Scan(scan.content, scan.content_type, f"{job['sha256']}#{document.number}")
            results.append(await self._commit(document, source))
            if not await self.jobs.update(job_id, self.owner, self.lease_s, documents=results):
                return
        progress("committing", len(results), len(found))
        await self._finish(job, COMPLETE, documents=results)

    async def _finish(self, job: Job, state: str, **fields: Any) -> None:
        """The job's end; its file goes (a scan in plaintext is kept no longer than needed:
        the vault holds it encrypted, the job its SHA-256)."""
        if await self.jobs.finish(job["_id"], self.owner, state, **fields):
            await asyncio.to_thread(Path(job["path"]).unlink, missing_ok=True)

    async def read_file(self, data: bytes) -> FileReading:
        """Steps 1-7 in the page pool (a review re-reads scans here too)."""
        return await asyncio.to_thread(self.pages.read_file, data)

    async def _commit(self, document: ScannedDocument, scan: Scan) -> dict[str, Any]:
        result: dict[str, Any] = {"number": document.number, "pages": list(document.page_numbers)}
        if not document.pages:  # nothing readable: nothing is stored
            return {**result, "status": "error", "error": "no readable page"}
        try:
            done = await self.committer.commit(document, scan)
        except DuplicateDocument as error:
            return {**result, "status": "refused", "error": str(error)}
        except FhirError as error:  # our resources refused (a bug): this document, not the job
            log.error("scan document not stored: %s", type(error).__name__)
            return {**result, "status": "error", "error": f"not stored ({type(error).__name__})"}
        return {**result, **document_result(done)}


def page_results(reading: FileReading) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for page in reading.pages:
        if isinstance(page, PageFailure):
            found.append({"page": page.index, "status": "error", "error": page.error})
        elif page.decision is None:
            found.append({"page": page.index, "status": "separator"})
        else:
            rows = page.decision.rows
            accepted = sum(row.accepted for row in rows)
            found.append(
                {"page": page.index, "status": "read", "rows": len(rows), "accepted": accepted}
            )
    return found


def document_result(done: Committed) -> dict[str, Any]:
    status = "already" if done.already else "review" if done.review else "committed"
    return {
        "status": status,
        "document_id": done.document_id,
        "document_reference": done.document_reference,
        "observations": done.observations,
        "tasks": done.tasks,
    }


class JobWorker:
    """A ``JobRunner`` polling the queue in the background of one process (the app's
    lifespan, with ``MEDREC_INGEST_WORKER``)."""

    def __init__(self, runner: JobRunner, poll_s: float) -> None:
        self.runner = runner
        self.poll_s = poll_s
        self.wake = asyncio.Event()
        self.stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="medrec-ingest-worker")

    async def _loop(self) -> None:
        with contextlib.suppress(PyMongoError):
            await self.runner.ensure()
        while not self.stopping.is_set():
            try:
                ran = await self.runner.run_next()
            except PyMongoError as error:
                log.warning("scan job queue unavailable: %s", type(error).__name__)
                ran = None
            if ran is None and not self.stopping.is_set():
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), self.poll_s)

    async def stop(self, timeout_s: float = 10.0) -> bool:
        """Asked, never cancelled (a cancellation inside a pymongo call can be lost there, or
        leave the client's lock held: see fhir_server/bulk/export.py). The page pool stops at
        once, so a job being read goes back to the queue; True when the worker stopped in time,
        else it is left to fail once the database client is closed."""
        task = self._task
        if task is None:
            return True
        self.stopping.set()
        self.wake.set()
        self.runner.close()
        done, _ = await asyncio.wait({task}, timeout=timeout_s)
        if not done:
            log.warning("the scan ingestion worker did not stop in time; its job resumes later")
        return bool(done)
