"""Reindexing rebuilds search index values and resumes after an interruption."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from fhir_server.storage import reindex as reindex_module
from fhir_server.storage.reindex import STATE_COLLECTION, reindex
from tests.helpers import patient


class Interrupted(Exception):
    pass


async def test_reindex_restores_index_and_resumes(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(7):
        body = patient(id=f"r{n}", name=[{"family": f"Family{n}"}])
        assert (await client.put(f"Patient/r{n}", json=body)).status_code == 201
    await client.delete("Patient/r6")
    collections = app.state.services.repository.collections
    patients = await collections.current("Patient")
    await patients.update_many({}, {"$unset": {"idx": ""}})  # as if definitions had changed
    found = await client.get("Patient", params={"family": "family3"})
    assert found.json()["entry"] == []

    monkeypatch.setattr(reindex_module, "BATCH", 2)
    calls: list[tuple[str, int, int]] = []

    def stop_after_first_batch(rtype: str, done: int, total: int) -> None:
        calls.append((rtype, done, total))
        raise Interrupted

    with pytest.raises(Interrupted):
        await reindex(collections, ["Patient"], stop_after_first_batch)
    state = await collections.db[STATE_COLLECTION].find_one({"_id": "Patient"})
    assert state is not None and state["after"] == "r1" and state["count"] == 2

    progress: list[tuple[str, int, int]] = []
    checked, rewritten = await reindex(
        collections, ["Patient"], lambda *args: progress.append(args)
    )
    assert checked == rewritten == 4  # r2..r5 (r0, r1 done before the interruption; r6 is deleted)
    assert progress[0][1] == 4  # resumed after the checkpoint, not from the start
    assert await collections.db[STATE_COLLECTION].count_documents({}) == 0

    bundle: dict[str, Any] = (await client.get("Patient", params={"family": "family3"})).json()
    assert [e["resource"]["id"] for e in bundle["entry"]] == ["r3"]
    first = (await client.get("Patient", params={"family": "family0"})).json()
    assert [e["resource"]["id"] for e in first["entry"]] == ["r0"]


async def test_an_old_index_format_is_reported_at_startup(
    client: httpx.AsyncClient, app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    from fhir_server.app import _check_index_format
    from fhir_server.storage.index_format import INDEX_FORMAT, META_COLLECTION

    collections = app.state.services.repository.collections
    meta = collections.db[META_COLLECTION]
    await _check_index_format(collections)  # as at startup: an empty database is current
    assert (await meta.find_one({"_id": "searchIndexFormat"}))["version"] == INDEX_FORMAT
    assert (await client.put("Patient/f1", json=patient(id="f1"))).status_code == 201
    await meta.delete_many({})  # data written before formats were recorded
    with caplog.at_level("WARNING"):
        await _check_index_format(collections)
    assert "medrec reindex" in caplog.text
    caplog.clear()
    await meta.insert_one({"_id": "searchIndexFormat", "version": INDEX_FORMAT})
    with caplog.at_level("WARNING"):
        await _check_index_format(collections)
    assert "medrec reindex" not in caplog.text


async def test_demo_data_in_a_fresh_database_is_current(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    """`medrec serve --demo` loads the demo before the server starts: its data is written in
    the current format and must not be reported as old."""
    from fhir_server.app import _check_index_format
    from fhir_server.demo import load_demo
    from fhir_server.storage.index_format import META_COLLECTION

    repository = app.state.services.repository
    meta = repository.collections.db[META_COLLECTION]
    await meta.delete_many({})  # as before any server ever started on this database
    assert await load_demo(repository) > 0
    with caplog.at_level("WARNING"):
        await _check_index_format(repository.collections)
    assert "medrec reindex" not in caplog.text
