"""Bulk Data ``$export``: kick-off, polling, the manifest, the files, filters, cancelling; jobs
claimed atomically, leased, resumed from their cursor, shared by several workers; a worker that
never holds up the app's shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from pymongo import AsyncMongoClient

from fhir_server.app import create_app
from fhir_server.bulk.export import (
    Exporter,
    ExportRequest,
    ExportWorker,
    start_worker,
)
from fhir_server.bulk.export import (
    kick_off as queue_job,
)
from fhir_server.config import Settings
from fhir_server.storage.collections import Collections
from fhir_server.storage.export_jobs import COMPLETE, QUEUED, RUNNING, ExportJobs
from tests.api.test_everything import observation
from tests.api.test_search import put

ASYNC = {"Prefer": "respond-async"}


@pytest.fixture
def worker() -> bool:
    """Whether the app runs its own export worker (as `medrec serve` does)."""
    return True


@pytest.fixture
def settings(mongodb_uri: str, database_name: str, tmp_path: Path) -> Settings:
    return Settings(
        mongodb_uri=mongodb_uri,
        database=database_name,
        data_dir=tmp_path,
        export_poll_s=0.05,
        export_part_bytes=1024,
    )


@pytest.fixture
async def app(app: FastAPI, settings: Settings, worker: bool) -> AsyncIterator[FastAPI]:
    """The app, with an export worker started for the test (a test app has none of its own)."""
    if not worker:
        yield app
        return
    collections = app.state.services.repository.collections
    app.state.export_worker = start_worker(settings, app.state.export_jobs, collections)
    try:
        yield app
    finally:
        assert await app.state.export_worker.stop()
        app.state.export_worker = None


@pytest.fixture
async def record(client: httpx.AsyncClient) -> None:
    for pid in ("ann", "bob"):
        await put(client, {"resourceType": "Patient", "id": pid})
    for n in range(12):
        await put(client, observation(f"o{n:02}", "ann" if n % 3 else "bob"))
    await put(client, {"resourceType": "Organization", "id": "org1", "name": "in no compartment"})


async def kick_off(client: httpx.AsyncClient, url: str, **params: str) -> str:
    response = await client.get(url, params=params, headers=ASYNC)
    assert response.status_code == 202, response.text
    location = response.headers["content-location"]
    assert location.startswith("http://testserver/fhir/$export-status/")
    return location


async def finished(client: httpx.AsyncClient, status_url: str) -> dict[str, Any]:
    for _ in range(600):
        response = await client.get(status_url)
        if response.status_code == 200:
            manifest: dict[str, Any] = response.json()
            return manifest
        assert response.status_code == 202, response.text
        assert response.headers["retry-after"].isdigit()
        assert "types" in response.headers["x-progress"]
        await asyncio.sleep(0.05)
    raise AssertionError("the export did not finish")


async def exported(client: httpx.AsyncClient, manifest: dict[str, Any]) -> dict[str, list[bytes]]:
    """Type -> the NDJSON lines of its files, in order."""
    out: dict[str, list[bytes]] = {}
    for item in manifest["output"]:
        response = await client.get(item["url"])
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/fhir+ndjson")
        lines = response.content.splitlines()
        assert len(lines) == item["count"]
        assert all(orjson.loads(line)["resourceType"] == item["type"] for line in lines)
        out.setdefault(item["type"], []).extend(lines)
    return out


async def stored(app: FastAPI, rtype: str, rid: str) -> bytes:
    body = (await app.state.services.repository.read(rtype, rid)).body
    assert body is not None
    return bytes(body)


def ids(lines: list[bytes]) -> list[str]:
    return [orjson.loads(line)["id"] for line in lines]


def exporter(app: FastAPI, tmp_path: Path, **options: Any) -> Exporter:
    """A worker of its own, as another medrec process on the same database would run."""
    collections = app.state.services.repository.collections
    return Exporter(app.state.export_jobs, collections, tmp_path / "exports", 1024, **options)


@pytest.mark.usefixtures("record")
async def test_system_export_round_trip(client: httpx.AsyncClient, app: FastAPI) -> None:
    manifest = await finished(client, await kick_off(client, "$export"))
    assert manifest["requiresAccessToken"] is True  # the downloads are authorized FHIR routes
    assert manifest["request"].endswith("/fhir/$export")
    assert manifest["error"] == []
    assert manifest["transactionTime"].endswith("Z")
    files = await exported(client, manifest)
    assert sorted(files) == ["Observation", "Organization", "Patient"]
    assert ids(files["Observation"]) == [f"o{n:02}" for n in range(12)]
    assert ids(files["Patient"]) == ["ann", "bob"]
    for rtype, lines in files.items():
        for line in lines:
            assert line == await stored(app, rtype, orjson.loads(line)["id"])


@pytest.mark.usefixtures("record")
async def test_parts_are_byte_bounded(client: httpx.AsyncClient, tmp_path: Path) -> None:
    manifest = await finished(client, await kick_off(client, "$export", _type="Observation"))
    parts = [item for item in manifest["output"] if item["type"] == "Observation"]
    assert len(parts) > 1
    assert sum(item["count"] for item in parts) == 12
    files = list((tmp_path / "exports").glob("*/Observation.*.ndjson"))
    assert len(files) == len(parts)
    assert all(0 < path.stat().st_size <= 1024 for path in files)


@pytest.mark.usefixtures("record")
async def test_type_and_since_filter(client: httpx.AsyncClient) -> None:
    files = await exported(
        client,
        await finished(client, await kick_off(client, "$export", _type="Patient,Organization")),
    )
    assert sorted(files) == ["Organization", "Patient"]
    cut = (await client.get("Organization/org1")).json()["meta"]["lastUpdated"]
    await put(client, {"resourceType": "Patient", "id": "bob", "gender": "male"})
    files = await exported(
        client, await finished(client, await kick_off(client, "$export", _since=cut))
    )
    assert {rtype: ids(lines) for rtype, lines in files.items()} == {
        "Organization": ["org1"],
        "Patient": ["bob"],
    }


@pytest.mark.usefixtures("record")
async def test_patient_level_exports_only_compartments(client: httpx.AsyncClient) -> None:
    manifest = await finished(client, await kick_off(client, "Patient/$export"))
    assert manifest["request"].endswith("/fhir/Patient/$export")
    files = await exported(client, manifest)
    assert sorted(files) == ["Observation", "Patient"]  # not the Organization
    assert len(files["Observation"]) == 12


@pytest.mark.usefixtures("record")
async def test_group_level_exports_its_members_compartments(client: httpx.AsyncClient) -> None:
    await put(client, {"resourceType": "Group", "id": "g1", "type": "person", "actual": True,
                       "member": [{"entity": {"reference": "Patient/bob"}}]})  # fmt: skip
    files = await exported(
        client, await finished(client, await kick_off(client, "Group/g1/$export"))
    )
    assert ids(files["Patient"]) == ["bob"]
    assert ids(files["Observation"]) == ["o00", "o03", "o06", "o09"]
    response = await client.get("Group/nope/$export", headers=ASYNC)
    assert response.status_code == 404


async def test_unknown_job(client: httpx.AsyncClient) -> None:
    assert (await client.get("$export-status/nope")).status_code == 404
    assert (await client.delete("$export-status/nope")).status_code == 404
    assert (await client.get("$export-file/nope/Patient.1.ndjson")).status_code == 404


@pytest.mark.usefixtures("record")
async def test_cancel_removes_the_job_and_its_files(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    status = await kick_off(client, "$export")
    manifest = await finished(client, status)
    job = status.rsplit("/", 1)[1]
    assert (tmp_path / "exports" / job).is_dir()
    assert (await client.delete(status)).status_code == 202
    assert not (tmp_path / "exports" / job).exists()
    assert (await client.get(status)).status_code == 404
    assert (await client.get(manifest["output"][0]["url"])).status_code == 404


@pytest.mark.parametrize("worker", [False])
@pytest.mark.usefixtures("record")
async def test_cancel_while_running_stops_the_worker_and_removes_files(
    client: httpx.AsyncClient, app: FastAPI, tmp_path: Path
) -> None:
    status = await kick_off(client, "$export", _type="Observation")
    job = status.rsplit("/", 1)[1]
    running = exporter(app, tmp_path, chunk_lines=2)
    claimed = await app.state.export_jobs.claim(running.owner, 60)
    assert claimed is not None
    # Cancelled once claimed: the worker writes its first chunk, finds the job gone at the
    # checkpoint after it, and removes what it wrote.
    assert (await client.delete(status)).status_code == 202
    await running._run_one(claimed)
    assert not (tmp_path / "exports" / job).exists()
    assert await app.state.export_jobs.get(job) is None


@pytest.mark.parametrize(
    ("params", "headers"),
    [
        ({}, {}),
        ({"_outputFormat": "application/fhir+json"}, ASYNC),
        ({"_type": "NoSuchType"}, ASYNC),
        ({"_since": "yesterday"}, ASYNC),
        ({"_typeFilter": "Observation?status=final"}, ASYNC),
    ],
)
async def test_bad_requests(
    client: httpx.AsyncClient, params: dict[str, str], headers: dict[str, str]
) -> None:
    response = await client.get("$export", params=params, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("fmt", ["application/fhir+ndjson", "application/ndjson", "ndjson"])
async def test_output_formats(client: httpx.AsyncClient, fmt: str) -> None:
    await kick_off(client, "$export", _outputFormat=fmt)


@pytest.mark.parametrize("worker", [False])
@pytest.mark.usefixtures("record")
async def test_a_job_resumes_from_its_cursor(
    client: httpx.AsyncClient, app: FastAPI, tmp_path: Path
) -> None:
    status = await kick_off(client, "$export", _type="Observation")
    job = status.rsplit("/", 1)[1]
    # A worker died after recording o00..o03, then wrote more than the rest of the job will.
    written = b"".join([await stored(app, "Observation", f"o{n:02}") + b"\n" for n in range(4)])
    folder = tmp_path / "exports" / job
    folder.mkdir(parents=True)
    (folder / "Observation.1.ndjson").write_bytes(written + b'{"resourceType":"Obs' * 500)
    part = {
        "type": "Observation",
        "name": "Observation.1.ndjson",
        "count": 4,
        "bytes": len(written),
    }
    jobs: ExportJobs = app.state.export_jobs
    await jobs._coll.update_one(
        {"_id": job},
        {"$set": {"state": RUNNING, "owner": "dead", "after": "o03", "parts": [part]}},
    )
    resumed = ExportWorker(exporter(app, tmp_path, chunk_lines=2), 0.05)
    resumed.start()
    try:
        manifest = await finished(client, status)
    finally:
        assert await resumed.stop()
    job_record = await jobs.get(job)
    assert job_record is not None
    assert job_record["state"] == COMPLETE
    files = await exported(client, manifest)
    assert ids(files["Observation"]) == [f"o{n:02}" for n in range(12)]


@pytest.mark.parametrize("worker", [False])
async def test_claiming_is_atomic_and_a_live_lease_is_respected(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    status = await kick_off(client, "$export")
    job = status.rsplit("/", 1)[1]
    jobs: ExportJobs = app.state.export_jobs
    # Eight processes look at once: one wins.
    claims = await asyncio.gather(*(jobs.claim(f"worker{n}", 0.5) for n in range(8)))
    winners = [claim for claim in claims if claim is not None]
    assert len(winners) == 1
    assert winners[0]["_id"] == job
    assert winners[0]["state"] == RUNNING
    assert await jobs.claim("other", 60) is None  # its lease still runs
    await asyncio.sleep(0.6)
    # The winner stopped renewing (died, or its process restarted): the job is taken over.
    taken = await jobs.claim("other", 60)
    assert taken is not None and taken["owner"] == "other"
    assert not await jobs.checkpoint(job, winners[0]["owner"], 60, position=1)


@pytest.mark.parametrize("worker", [False])
@pytest.mark.usefixtures("record")
async def test_a_stopping_worker_hands_its_job_back(
    client: httpx.AsyncClient, app: FastAPI, tmp_path: Path
) -> None:
    status = await kick_off(client, "$export", _type="Observation")
    job = status.rsplit("/", 1)[1]
    first = exporter(app, tmp_path, chunk_lines=5)
    first.stopping.set()  # asked to stop: it writes what it has and gives the job back
    assert await first.run_next()
    jobs: ExportJobs = app.state.export_jobs
    record = await jobs.get(job)
    assert record is not None
    assert (record["state"], record["owner"], record["after"]) == (RUNNING, None, "o00")
    second = exporter(app, tmp_path)  # at once, not after the lease
    assert await second.run_next()
    files = await exported(client, await finished(client, status))
    assert ids(files["Observation"]) == [f"o{n:02}" for n in range(12)]


@pytest.mark.parametrize("worker", [False])
@pytest.mark.usefixtures("record")
async def test_workers_of_several_processes_share_the_jobs(
    client: httpx.AsyncClient, app: FastAPI, tmp_path: Path
) -> None:
    statuses = [await kick_off(client, "$export", _type="Observation,Patient") for _ in range(6)]
    workers = [ExportWorker(exporter(app, tmp_path, chunk_lines=3), 0.02) for _ in range(3)]
    for each in workers:
        each.start()
    try:
        manifests = [await finished(client, status) for status in statuses]
    finally:
        for each in workers:
            assert await each.stop()
    for manifest in manifests:
        files = await exported(client, manifest)
        assert ids(files["Observation"]) == [f"o{n:02}" for n in range(12)]
        assert ids(files["Patient"]) == ["ann", "bob"]


@pytest.mark.parametrize("worker", [False])
async def test_a_failed_job_answers_an_operation_outcome(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    status = await kick_off(client, "$export")
    job = status.rsplit("/", 1)[1]
    await app.state.export_jobs._coll.update_one(
        {"_id": job}, {"$set": {"state": "failed", "error": "OSError"}}
    )
    response = await client.get(status)
    assert response.status_code == 500
    assert response.json()["issue"][0]["code"] == "exception"


@pytest.mark.parametrize("worker", [False])
async def test_without_a_worker_a_job_stays_queued(client: httpx.AsyncClient, app: FastAPI) -> None:
    status = await kick_off(client, "$export")
    await asyncio.sleep(0.2)
    response = await client.get(status)
    assert response.status_code == 202
    job = await app.state.export_jobs.get(status.rsplit("/", 1)[1])
    assert job is not None and job["state"] == QUEUED


# -- shutdown: the cause of the stalled test runs ------------------------------------------------


class _SwallowsCancellation(Exporter):
    """Does what a pymongo call did to the first worker: a cancellation arriving while it is
    in flight is lost there, and the call returns as if nothing happened."""

    async def run_next(self) -> bool:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)
        return False


class _Stuck(Exporter):
    """A database call that does not come back (a server that does not answer)."""

    async def run_next(self) -> bool:
        await asyncio.sleep(3600)
        return False


@pytest.fixture
async def bare(mongodb_uri: str, database_name: str) -> AsyncIterator[tuple[Any, Any]]:
    """Job records and collections, with no app around them."""
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    try:
        yield ExportJobs(mongo[database_name]), Collections(mongo[database_name])
    finally:
        await mongo.close()


async def test_a_lost_cancellation_does_not_keep_the_worker_running(
    bare: tuple[ExportJobs, Collections], tmp_path: Path
) -> None:
    swallowing = _SwallowsCancellation(*bare, tmp_path, 1024)
    running = asyncio.create_task(swallowing.run(3600.0))
    await asyncio.sleep(0.05)
    running.cancel()  # lost in run_next...
    await asyncio.wait({running}, timeout=2.0)
    assert running.cancelled()  # ...but seen by the worker at its next turn


async def test_a_stuck_worker_does_not_hold_up_the_shutdown(
    bare: tuple[ExportJobs, Collections], tmp_path: Path
) -> None:
    stuck = ExportWorker(_Stuck(*bare, tmp_path, 1024), 3600.0)
    stuck.start()
    await asyncio.sleep(0.05)
    started = time.monotonic()
    assert not await stuck.stop(timeout_s=0.3)
    assert time.monotonic() - started < 1.0
    assert stuck._task is not None
    stuck._task.cancel()  # a sleep, not a database call: safe to cancel


@pytest.mark.parametrize("worker", [False])  # the jobs are for the worker of the app below
@pytest.mark.usefixtures("record")
async def test_the_lifespan_ends_promptly_with_a_worker_running(settings: Settings) -> None:
    """The app `medrec serve` builds, with its worker busy when the server stops."""
    app = create_app(settings, create_indexes=False, export_worker=True)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    try:
        export = ExportRequest("http://testserver/fhir/$export", ["Observation", "Patient"])
        queued = [await queue_job(app.state.export_jobs, export) for _ in range(30)]
        app.state.export_worker.wake()
        await asyncio.sleep(0.2)
    finally:
        started = time.monotonic()
        await lifespan.__aexit__(None, None, None)
    assert time.monotonic() - started < 6.0
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_uri)
    try:
        jobs = ExportJobs(mongo[settings.database])
        records = [await jobs.get(job) or {} for job in queued]
    finally:
        await mongo.close()
    states = [record.get("state") for record in records]
    assert COMPLETE in states  # it was working...
    assert states.count(COMPLETE) < len(queued)  # ...and had not finished when it was stopped
    assert all(record.get("owner") is None for record in records)  # its job handed back
