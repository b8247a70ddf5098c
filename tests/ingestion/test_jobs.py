"""Durable scan jobs (ingestion/jobs.py) on the test's own database, with the real pipeline."""

from __future__ import annotations

import asyncio
import io
import os
import secrets
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pymongo.asynchronous.database import AsyncDatabase

from fhir_server.storage.repository import Repository
from ingestion.intake import RefusedFile, copy_file
from ingestion.jobs import COLLECTION, COMPLETE, RUNNING, IngestJobs, JobRunner, JobWorker
from ingestion.scans import synthetic
from ingestion.scans.commit import Committer
from ingestion.scans.pool import PagePool
from ingestion.scans.synthetic import SyntheticPage
from ingestion.scans.vault import COLLECTION as COLLECTION_BLOBS
from tests.ingestion.scan_support import add_patient, lab_page

Db = AsyncDatabase[dict[str, Any]]


@pytest.fixture(scope="module")
def page() -> SyntheticPage:
    return lab_page(seed=12)


async def submit(runner: JobRunner, tmp_path: Path, data: bytes, name: str = "scan") -> str:
    source = tmp_path / f"{name}-{secrets.token_hex(4)}"
    source.write_bytes(data)
    stored = copy_file(source, tmp_path / "ingest", 10**8)
    submitted = await runner.jobs.submit(stored.sha256, name, stored.path, stored.size)
    return submitted.job_id


async def test_a_lab_scan_is_ingested(
    runner: JobRunner, repository: Repository, page: SyntheticPage, tmp_path: Path
) -> None:
    await add_patient(repository, page.truth)
    job_id = await submit(runner, tmp_path, page.data)
    job = await runner.run_next()
    assert job is not None and job["_id"] == job_id and job["state"] == COMPLETE
    assert [p["status"] for p in job["pages"]] == ["read"]
    [document] = job["documents"]
    assert document["status"] == "committed" and document["observations"] >= 3
    assert document["document_id"] == page.truth.document_id
    assert await runner.run_next() is None  # nothing left
    assert not list((tmp_path / "ingest").iterdir())  # the plaintext copy is gone


async def test_the_same_file_twice_is_one_job(
    runner: JobRunner, page: SyntheticPage, tmp_path: Path
) -> None:
    first = await submit(runner, tmp_path, page.data, "a.png")
    second = await submit(runner, tmp_path, page.data, "copy of a.png")
    assert first == second
    assert await runner.jobs._coll.count_documents({}) == 1


@pytest.mark.parametrize("cut", ["truncated", "garbage after the header"])
async def test_a_corrupt_file_is_a_page_error_and_the_job_finishes(
    runner: JobRunner, page: SyntheticPage, tmp_path: Path, cut: str, db: Db
) -> None:
    data = page.data[: len(page.data) // 2] if cut == "truncated" else page.data[:64] + b"\0" * 999
    await submit(runner, tmp_path, data)
    job = await runner.run_next()
    assert job is not None and job["state"] == COMPLETE
    errors = [p["error"] for p in job["pages"] if p["status"] == "error"]
    assert errors or job.get("error"), job
    assert all(d["status"] == "error" for d in job["documents"])
    assert await db["DocumentReference"].count_documents({}) == 0  # nothing committed


def test_not_a_scan_is_refused_at_the_door(tmp_path: Path) -> None:
    source = tmp_path / "notes.txt"
    source.write_text("not a scan")
    with pytest.raises(RefusedFile, match="not a PNG"):
        copy_file(source, tmp_path / "ingest", 10**6)
    assert not list((tmp_path / "ingest").iterdir())  # nothing left behind


async def test_workers_share_the_queue_and_resume_a_dead_workers_job(
    runner: JobRunner, repository: Repository, page: SyntheticPage, tmp_path: Path, db: Db
) -> None:
    await add_patient(repository, page.truth)
    job_id = await submit(runner, tmp_path, page.data)
    jobs = runner.jobs
    claims = await asyncio.gather(*(jobs.claim(f"w{n}", 60) for n in range(5)))
    assert [c["_id"] for c in claims if c is not None] == [job_id]  # one winner
    assert await runner.run_next() is None  # leased to the (now dead) winner

    await db[COLLECTION].update_one({"_id": job_id}, {"$set": {"lease": datetime.now(UTC)}})
    job = await runner.run_next()
    assert job is not None and job["state"] == COMPLETE and job["attempts"] == 2

    # Killed after committing, before recording it: resumed, nothing is written twice.
    await asyncio.to_thread(Path(job["path"]).write_bytes, page.data)  # as a job left it
    expired = datetime.now(UTC) - timedelta(seconds=1)
    await db[COLLECTION].update_one(
        {"_id": job_id}, {"$set": {"state": RUNNING, "lease": expired, "documents": []}}
    )
    job = await runner.run_next()
    assert job is not None and [d["status"] for d in job["documents"]] == ["already"]
    assert await db["DocumentReference"].count_documents({}) == 1
    assert await db["Observation"].count_documents({}) >= 3


async def test_a_batch_is_split_at_its_separator_sheets(
    runner: JobRunner, tmp_path: Path, db: Db
) -> None:
    batch = synthetic.batch(seed=5, documents=2, pages_per_document=(1, 1), unsorted=0)
    await submit(runner, tmp_path, batch.data, "batch.pdf")
    job = await runner.run_next()
    assert job is not None and job["state"] == COMPLETE
    assert [p["status"] for p in job["pages"]] == ["separator", "read", "separator", "read"]
    # Patients unknown here: each document waits for review, with its own pages only.
    assert [(d["pages"], d["status"]) for d in job["documents"]] == [
        ([1], "review"),
        ([3], "review"),
    ]
    blobs = {doc["blob"] async for doc in db[COLLECTION_BLOBS].find({"n": 0})}
    assert len(blobs) == 2
    for blob in blobs:
        content = await runner.committer.vault.get(blob)
        assert content is not None and content.startswith(b"%PDF") and content != batch.data


async def test_a_second_scan_of_a_stored_document_is_refused(
    runner: JobRunner, repository: Repository, page: SyntheticPage, tmp_path: Path
) -> None:
    await add_patient(repository, page.truth)
    await submit(runner, tmp_path, page.data)
    first = await runner.run_next()
    assert first is not None and first["documents"][0]["status"] == "committed"
    rescanned = io.BytesIO()
    Image.open(io.BytesIO(page.data)).save(rescanned, "JPEG", quality=95, dpi=(300, 300))
    await submit(runner, tmp_path, rescanned.getvalue(), "rescan.jpg")
    second = await runner.run_next()
    assert second is not None and second["state"] == COMPLETE
    [document] = second["documents"]
    assert document["status"] == "refused" and page.truth.document_id in document["error"]


async def until(condition: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_a_killed_page_worker_fails_the_attempt_and_the_job_is_retried(
    runner: JobRunner, tmp_path: Path, db: Db
) -> None:
    batch = synthetic.batch(seed=5, documents=2, pages_per_document=(1, 1), unsorted=0)
    job_id = await submit(runner, tmp_path, batch.data, "batch.pdf")
    read = sum(runner.pages.pages_read.values())
    running = asyncio.create_task(runner.run_next())
    await until(lambda: sum(runner.pages.pages_read.values()) > read)  # mid-file
    os.kill(runner.pages.pids[0], signal.SIGKILL)
    job = await asyncio.wait_for(running, 30)
    assert job is not None and job["_id"] == job_id
    assert (job["state"], job["owner"], job["attempts"]) == (RUNNING, None, 1)  # to retry
    assert "error" not in job and job["pages"] == []

    job = await runner.run_next()  # at once, on a new pool
    assert job is not None and (job["state"], job["attempts"]) == (COMPLETE, 2)
    assert [p["status"] for p in job["pages"]] == ["separator", "read", "separator", "read"]


async def test_a_stopped_worker_hands_its_job_back_at_once(
    db: Db, committer: Committer, tmp_path: Path
) -> None:
    pages = PagePool(1)
    worker = JobWorker(JobRunner(IngestJobs(db), committer, pages), poll_s=0.05)
    worker.start()
    batch = synthetic.batch(seed=6, documents=2, pages_per_document=(1, 2), unsorted=0)
    job_id = await submit(worker.runner, tmp_path, batch.data, "batch.pdf")
    worker.wake.set()
    await until(lambda: sum(pages.pages_read.values()) > 0)  # mid-file
    started = time.monotonic()
    assert await worker.stop()
    assert time.monotonic() - started < 5
    job = await worker.runner.jobs.get(job_id)
    assert job is not None and (job["state"], job["owner"], job["attempts"]) == (RUNNING, None, 0)
    assert await worker.runner.jobs.claim("next") is not None  # claimable now, not after a lease
