"""Export round trip: a Synthea-shaped data set posted as transactions, exported with
``$export``, its NDJSON loaded into a fresh database with the ``medrec load`` machinery: the same
resources come back, type by type, id by id."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from pymongo import AsyncMongoClient

from fhir_server.bulk.export import start_worker
from fhir_server.bulk.load import Loader, open_repository
from fhir_server.bulk.synthetic import patient_bundles
from fhir_server.config import Settings
from fhir_server.model.resource_types import supported_types
from fhir_server.storage.collections import Collections

Resources = dict[str, dict[str, Any]]  # "Type/id" -> resource, without server meta


@pytest.fixture
def settings(mongodb_uri: str, database_name: str, tmp_path: Path) -> Settings:
    # Small parts: the round trip also crosses part boundaries.
    return Settings(
        mongodb_uri=mongodb_uri,
        database=database_name,
        data_dir=tmp_path,
        export_poll_s=0.05,
        export_part_bytes=64 * 1024,
    )


@pytest.fixture
async def app(app: FastAPI, settings: Settings) -> AsyncIterator[FastAPI]:
    collections = app.state.services.repository.collections
    app.state.export_worker = start_worker(settings, app.state.export_jobs, collections)
    try:
        yield app
    finally:
        assert await app.state.export_worker.stop()
        app.state.export_worker = None


@pytest.fixture
async def fresh_db(mongodb_uri: str) -> AsyncIterator[Any]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    name = f"medrec_test_{uuid.uuid4().hex[:12]}"
    try:
        yield client[name]
    finally:
        await client.drop_database(name)
        await client.close()


async def export_to(client: httpx.AsyncClient, folder: Path) -> list[Path]:
    response = await client.get("$export", headers={"Prefer": "respond-async"})
    assert response.status_code == 202, response.text
    status = response.headers["content-location"]
    for _ in range(1200):
        response = await client.get(status)
        if response.status_code == 200:
            break
        assert response.status_code == 202, response.text
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the export did not finish")
    await asyncio.to_thread(folder.mkdir)
    files = []
    for item in response.json()["output"]:
        path = folder / item["url"].rsplit("/", 1)[1]
        async with client.stream("GET", item["url"]) as download:
            assert download.status_code == 200
            with path.open("wb") as out:
                async for chunk in download.aiter_bytes():
                    out.write(chunk)
        files.append(path)
    return files


async def resources(db: Any) -> Resources:
    """Every current resource of the database, its versionId and lastUpdated left out (a load
    writes new versions)."""
    out: Resources = {}
    for rtype in await Collections(db).existing_types(supported_types()):
        async for doc in db[rtype].find({"del": {"$ne": True}}, {"res": 1, "raw": 1}):
            body = orjson.loads(bytes(doc["raw"])) if doc.get("raw") else doc["res"]
            meta = {k: v for k, v in body.get("meta", {}).items() if k not in SERVER_META}
            body = {k: v for k, v in body.items() if k != "meta"} | ({"meta": meta} if meta else {})
            out[f"{rtype}/{doc['_id']}"] = body
    return out


SERVER_META = ("versionId", "lastUpdated")


async def test_export_then_load_gives_the_same_resources(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, fresh_db: Any, tmp_path: Path
) -> None:
    for bundle in patient_bundles(3, 150, seed=41):
        response = await client.post("", content=orjson.dumps(bundle))
        assert response.status_code == 200, response.text
    source = app.state.mongo[settings.database]
    original = without_audit(await resources(source))
    assert len(original) == 450
    assert len({key.split("/")[0] for key in original}) >= 8  # many types

    files = await export_to(client, tmp_path / "export")
    assert sum(1 for path in files if path.name.startswith("Observation.")) > 1  # parts

    repository, codes = await open_repository(fresh_db, settings.max_json_depth)
    loader = Loader(
        repository,
        codes,
        max_file_bytes=settings.max_body_bytes,
        max_line_bytes=settings.max_body_bytes,
        max_bundle_entries=settings.max_bundle_entries,
    )
    results = [await loader.load(path) for path in files]
    assert [(r.status, r.failed, r.reasons) for r in results] == [("loaded", 0, [])] * len(files)

    loaded = await resources(fresh_db)
    assert sum(r.loaded for r in results) == len(loaded)
    assert loaded == original


def without_audit(found: Resources) -> Resources:
    """The source's resources but its audit trail: the AuditEvents of the requests above,
    which a system export leaves out (served on request only)."""
    return {key: body for key, body in found.items() if not key.startswith("AuditEvent/")}
