"""``POST /ingest/scans`` (one scan file, multipart) → 202 and a job; ``GET /ingest/jobs/{id}``
→ its state and per-page, per-document results; ``GET /ingest/jobs/{id}/events`` → the same
as Server-Sent Events while it runs. For administrators, staff and practitioners
(the app includes this router behind ``smart_auth.enforce.authorize``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from fhir_server.config import Settings
from fhir_server.errors import Forbidden, NotFound
from ingestion.jobs import COMPLETE, FAILED, IngestJobs, Job
from ingestion.upload import receive_scan
from smart_auth.enforce import access_of

ROLES = frozenset({"admin", "staff", "practitioner"})
PREFIX = "/ingest"
UPLOAD_PATH = f"{PREFIX}/scans"
# Room for the multipart framing around the file itself.
MULTIPART_SLACK_BYTES = 64 * 1024
EVENTS_POLL_S = 0.5


async def staff_only(request: Request) -> None:
    access = await access_of(request)
    if access.grant is not None and access.grant.role not in ROLES:
        raise Forbidden("Scan ingestion is for administrators, staff and practitioners")


router = APIRouter(prefix=PREFIX, tags=["ingestion"], dependencies=[Depends(staff_only)])


def _jobs(request: Request) -> IngestJobs:
    return IngestJobs(request.app.state.services.repository.collections.db)


@router.post(
    "/scans",
    status_code=202,
    summary="Upload a scan (PNG, JPEG, TIFF or PDF) as multipart/form-data: a job reads it",
    responses={413: {"description": "Larger than MEDREC_INGEST_MAX_BYTES"},
               415: {"description": "Not multipart, or not a PNG, JPEG, TIFF or PDF"}},
    openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {
        "schema": {"type": "object", "required": ["file"],
                   "properties": {"file": {"type": "string", "format": "binary"}}}}}}},
)  # fmt: skip
async def upload_scan(request: Request) -> Response:
    settings: Settings = request.app.state.services.settings
    stored, name = await receive_scan(request, settings.ingest_path, settings.ingest_max_bytes)
    jobs = _jobs(request)
    await jobs.ensure_indexes()
    submitted = await jobs.submit(stored.sha256, name, stored.path, stored.size)
    worker = getattr(request.app.state, "ingest_worker", None)
    if worker is not None:
        worker.wake.set()
    location = f"{PREFIX}/jobs/{submitted.job_id}"
    body = {"id": submitted.job_id, "duplicate": not submitted.created, "status": location}
    return JSONResponse(body, status_code=202, headers={"Location": location})


@router.get("/jobs/{job_id}", summary="A scan job: its state and per-page results")
async def get_job(job_id: str, request: Request) -> Response:
    job = await _jobs(request).get(job_id[:64])
    if job is None:
        raise NotFound(f"No scan job {job_id[:64]!r}")
    return JSONResponse(job_view(job))


@router.get(
    "/jobs/{job_id}/events",
    summary="A scan job's progress as Server-Sent Events, until it ends",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def job_events(job_id: str, request: Request) -> StreamingResponse:
    jobs = _jobs(request)
    if await jobs.get(job_id[:64]) is None:
        raise NotFound(f"No scan job {job_id[:64]!r}")
    return StreamingResponse(_events(jobs, job_id[:64], request), media_type="text/event-stream")


async def _events(jobs: IngestJobs, job_id: str, request: Request) -> AsyncIterator[bytes]:
    """``event: job`` with the job's view each time it changes; the last one is its end."""
    last: dict[str, Any] | None = None
    while not await request.is_disconnected():
        job = await jobs.get(job_id)
        if job is None:
            return
        view = job_view(job)
        if view != last:
            yield b"event: job\ndata: " + orjson.dumps(view) + b"\n\n"
            last = view
        if view["state"] in (COMPLETE, FAILED):
            return
        await asyncio.sleep(EVENTS_POLL_S)


def job_view(job: Job) -> dict[str, Any]:
    """What a client sees: no lease, owner or server path."""

    def when(name: str) -> str | None:
        value = job.get(name)
        return value.isoformat() if value is not None else None

    return {
        "id": job["_id"],
        "state": job["state"],
        "name": job.get("name", ""),
        "size": job.get("size"),
        "sha256": job["sha256"],
        "created": when("created"),
        "finished": when("finished"),
        "attempts": job.get("attempts", 0),
        "pages": job.get("pages", []),
        "documents": job.get("documents", []),
        "error": job.get("error"),
    }
