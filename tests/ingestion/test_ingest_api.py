"""``POST /ingest/scans`` and ``GET /ingest/jobs/{id}`` over HTTP, with real tokens, the real
app (its lifespan's ingestion worker) and a real synthetic scan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from fhir_server.app import create_app
from fhir_server.config import Settings
from ingestion.scans.synthetic import SyntheticPage
from smart_auth.tokens import Grant
from tests.conftest import ADMIN, bearer
from tests.ingestion.scan_support import lab_page, patient_resource

SERVER = "http://testserver"
PATIENT = Grant(
    subject="p1", client_id="portal", scope="patient/*.*", role="patient", patient="someone"
)
PRACTITIONER = Grant(subject="dr", client_id="medrec-tests", scope="user/*.*", role="practitioner")


@pytest.fixture(scope="module")
def page() -> SyntheticPage:
    return lab_page(seed=13)


@pytest.fixture
def settings(mongodb_uri: str, database_name: str, tmp_path: Path) -> Settings:
    return Settings(mongodb_uri=mongodb_uri, database=database_name, data_dir=tmp_path)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings, create_indexes=False, ingest_worker=True)
    async with application.router.lifespan_context(application):
        for _ in range(200):
            if application.state.auth is not None:
                break
            await asyncio.sleep(0.05)
        yield application


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=SERVER, timeout=60) as client:
        yield client


def upload(
    http: httpx.AsyncClient, app: FastAPI, data: bytes, grant: Grant = ADMIN, name: str = "a.png"
) -> Any:
    files = {"file": (name, data, "application/octet-stream")}
    return http.post("/ingest/scans", files=files, headers=bearer(app, grant))


async def finished(http: httpx.AsyncClient, app: FastAPI, job_id: str) -> dict[str, Any]:
    for _ in range(600):
        response = await http.get(f"/ingest/jobs/{job_id}", headers=bearer(app, ADMIN))
        assert response.status_code == 200
        job: dict[str, Any] = response.json()
        if job["state"] in ("complete", "failed"):
            return job
        await asyncio.sleep(0.1)
    raise AssertionError("the job did not finish")


async def test_an_upload_becomes_a_job_and_fhir(
    http: httpx.AsyncClient, app: FastAPI, page: SyntheticPage
) -> None:
    fhir = {**bearer(app, ADMIN), "Content-Type": "application/fhir+json"}
    created = await http.post(
        "/fhir/Patient", content=orjson.dumps(patient_resource(page.truth)), headers=fhir
    )
    assert created.status_code == 201

    response = await upload(http, app, page.data, PRACTITIONER)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    assert response.headers["location"] == f"/ingest/jobs/{job_id}"
    again = await upload(http, app, page.data, name="the same scan.png")
    assert again.status_code == 202 and again.json() == {**response.json(), "duplicate": True}

    events = []
    path = f"/ingest/jobs/{job_id}/events"
    async with http.stream("GET", path, headers=bearer(app, ADMIN)) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        async for line in stream.aiter_lines():
            if line.startswith("data: "):
                events.append(orjson.loads(line.removeprefix("data: ")))
    assert events[-1]["state"] == "complete"  # the stream ends with the job

    job = await finished(http, app, job_id)
    assert job == events[-1]
    assert job["state"] == "complete" and job["pages"][0]["status"] == "read"
    [document] = job["documents"]
    assert document["status"] == "committed" and document["observations"] >= 3
    assert "path" not in job and "owner" not in job
    found = await http.get(
        "/fhir/DocumentReference", params={"identifier": page.truth.document_id}, headers=fhir
    )
    assert len(found.json()["entry"]) == 1


@pytest.mark.parametrize(
    ("data", "status"), [(b"just some text", 415), (b"", 415)], ids=["not a scan", "empty"]
)
async def test_what_is_not_a_scan_is_refused(
    http: httpx.AsyncClient, app: FastAPI, data: bytes, status: int, settings: Settings
) -> None:
    response = await upload(http, app, data)
    assert response.status_code == status
    assert response.json()["resourceType"] == "OperationOutcome"
    assert not [p for p in settings.ingest_path.iterdir()]  # nothing kept


async def test_a_patient_token_cannot_upload_or_read_jobs(
    http: httpx.AsyncClient, app: FastAPI, page: SyntheticPage
) -> None:
    response = await upload(http, app, page.data, PATIENT)
    assert response.status_code == 403
    read = await http.get("/ingest/jobs/anything", headers=bearer(app, PATIENT))
    assert read.status_code == 403
    anonymous = await http.get("/ingest/jobs/anything")
    assert anonymous.status_code == 401


async def test_an_unknown_job_is_404(http: httpx.AsyncClient, app: FastAPI) -> None:
    response = await http.get("/ingest/jobs/nope", headers=bearer(app, ADMIN))
    assert response.status_code == 404


async def test_scan_uploads_have_their_own_size_limit(
    mongodb_uri: str, database_name: str, tmp_path: Path
) -> None:
    """A scan may be larger than MEDREC_MAX_BODY_BYTES (MEDREC_INGEST_MAX_BYTES governs it),
    and one over its own limit is refused at the edge with 413 before a byte is stored."""
    settings = Settings(
        mongodb_uri=mongodb_uri,
        database=database_name,
        data_dir=tmp_path,
        max_body_bytes=64 * 1024,
        ingest_max_bytes=512 * 1024,
    )
    application = create_app(settings, create_indexes=False)
    async with application.router.lifespan_context(application):
        for _ in range(200):  # authorization starts once the database has answered
            if application.state.auth is not None:
                break
            await asyncio.sleep(0.05)
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url=SERVER) as http:
            big_text = b"x" * (200 * 1024)  # over the body limit, under the scan limit
            response = await upload(http, application, big_text)
            assert response.status_code == 415  # read and judged: not a scan
            too_big = await upload(http, application, b"x" * (600 * 1024))
            assert too_big.status_code == 413
            assert too_big.json()["issue"][0]["code"] == "too-costly"
            assert not list(settings.ingest_path.iterdir())
