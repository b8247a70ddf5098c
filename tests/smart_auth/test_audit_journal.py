"""The audit journal: an access is journaled before it is answered, stored in the background
(the answer never waits for the database), and what a process that ended left in its journal is
stored by the next medrec to start, exactly once, in an intact chain."""

from __future__ import annotations

import asyncio
import base64
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from pymongo.errors import AutoReconnect

from fhir_server.app import create_app
from fhir_server.config import Settings
from fhir_server.storage.mongo import connect
from fhir_server.wiring import wire
from smart_auth.audit import journal as journal_module
from smart_auth.audit.journal import SUFFIX, Journal
from smart_auth.audit.trail import AuditTrail
from smart_auth.audit.verify import verify_chain
from tests.conftest import ADMIN, TEST_BASE, bearer
from tests.helpers import patient

REPO_ROOT = Path(__file__).resolve().parents[2]
Insert = Callable[..., Awaitable[Any]]


def journaled(directory: Path) -> list[dict[str, Any]]:
    lines = [
        line
        for path in sorted(directory.glob(f"*{SUFFIX}"))
        for line in path.read_bytes().splitlines()
    ]
    return [orjson.loads(line) for line in lines]


def query(event: dict[str, Any]) -> str:
    return base64.b64decode(event["entity"][-1]["query"]).decode()


async def stored_queries(settings: Settings) -> list[str]:
    assert settings.mongodb_uri is not None
    mongo = connect(settings.mongodb_uri)
    try:
        coll = mongo[settings.database]["AuditEvent"]
        return [query(doc["res"]) async for doc in coll.find({"seq": {"$exists": True}})]
    finally:
        await mongo.close()


def wrap_inserts(app: FastAPI, monkeypatch: pytest.MonkeyPatch, wrapper: Insert) -> Insert:
    """Route the trail's database writes through ``wrapper(original, *args)``."""
    repository = app.state.audit.repository
    original: Insert = repository.insert_trusted

    async def wrapped(*args: Any) -> Any:
        return await wrapper(original, *args)

    monkeypatch.setattr(repository, "insert_trusted", wrapped)
    return original


async def test_the_answer_leaves_once_journaled_without_waiting_for_the_database(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = (await client.post("Patient", json=patient())).json()["id"]
    await app.state.audit.flush()
    gate = asyncio.Event()

    async def stalled(original: Insert, *args: Any) -> Any:
        await gate.wait()
        return await original(*args)

    wrap_inserts(app, monkeypatch, stalled)
    try:
        read = await asyncio.wait_for(client.get(f"Patient/{pid}"), 10)
        assert read.status_code == 200
        # On record in the journal, not yet in the database.
        assert f"GET Patient/{pid}" in [query(e) for e in journaled(settings.audit_journal_path)]
        assert f"GET Patient/{pid}" not in await stored_queries(settings)
    finally:
        gate.set()
    await app.state.audit.flush()
    assert f"GET Patient/{pid}" in await stored_queries(settings)


async def test_the_writer_retries_a_failing_database_without_duplicates_or_content_in_logs(
    app: FastAPI,
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures = ["after the insert", "before the insert"]

    async def flaky(original: Insert, *args: Any) -> Any:
        if not failures:
            return await original(*args)
        when = failures.pop(0)
        if when == "after the insert":  # stored, but the answer was lost
            await original(*args)
        raise AutoReconnect("lost Patient/secret-name")

    wrap_inserts(app, monkeypatch, flaky)
    with caplog.at_level(logging.ERROR, logger="smart_auth.audit.trail"):
        for _ in range(3):
            assert (await client.get("Patient", params={"name": "Doe"})).status_code == 200
        deadline = asyncio.get_running_loop().time() + 30
        while True:  # each failed attempt fails the flush; the writer tries again
            try:
                await app.state.audit.flush()
                break
            except RuntimeError:
                assert asyncio.get_running_loop().time() < deadline
    assert not failures
    logged = [record.getMessage() for record in caplog.records]
    assert any("AutoReconnect" in message for message in logged)
    assert not any("secret" in message or "Doe" in message for message in logged)
    # The app fixture then checks: chain intact, one event per request (none twice).


async def test_a_search_of_audit_events_finds_the_accesses_just_made(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def slow(original: Insert, *args: Any) -> Any:
        await asyncio.sleep(0.3)
        return await original(*args)

    wrap_inserts(app, monkeypatch, slow)
    assert (await client.get("Patient/just-now")).status_code == 404
    found = await client.get("AuditEvent", params={"outcome": "4"})
    assert "GET Patient/just-now" in [query(e["resource"]) for e in found.json().get("entry", [])]


async def test_an_access_that_cannot_be_journaled_is_not_answered(
    settings: Settings, tmp_path: Path
) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the journal directory should be")
    app = create_app(
        settings.model_copy(update={"audit_journal_dir": blocked}), create_indexes=False
    )
    async with app.router.lifespan_context(app):
        for _ in range(200):
            if app.state.auth is not None:
                break
            await asyncio.sleep(0.05)
        stored = await app.state.services.repository.create(patient(), "Patient")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url=TEST_BASE + "/", headers=bearer(app, ADMIN)
        ) as http:
            read = await http.get(f"Patient/{stored.id}")
            assert read.status_code == 503
            assert read.json()["resourceType"] == "OperationOutcome"
            assert "Doe" not in read.text
            # An error answer carries no patient data: it still goes out.
            assert (await http.get("Patient/nobody")).status_code == 404
    assert app.state.audit.recorded == 0


async def _run_app(settings: Settings) -> FastAPI:
    """An app started and stopped on ``settings``: it stores what it adopted before stopping."""
    app = create_app(settings, create_indexes=False)
    async with app.router.lifespan_context(app):
        await app.state.audit.flush()
    return app


async def _journal_and_die(directory: Path, count: int) -> list[dict[str, Any]]:
    """A process that journals ``count`` events and is killed before storing any."""
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from smart_auth.audit.events import Request, audit_event\n"
        "from smart_auth.audit.journal import Journal\n"
        "journal = Journal(Path(sys.argv[1]))\n"
        "for i in range(int(sys.argv[2])):\n"
        "    request = Request('GET', f'Patient/p{i}', '', 200, None, None)\n"
        "    journal.append(audit_event(request, None, [('Patient', f'p{i}')]))\n"
        "print('journaled', flush=True)\n"
        "time.sleep(120)\n"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        str(directory),
        str(count),
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    assert await asyncio.wait_for(process.stdout.readline(), 60) == b"journaled\n"
    # Alive, it holds its file: nobody adopts it.
    assert Journal(directory).orphans() == []
    process.send_signal(signal.SIGKILL)
    await process.wait()
    return journaled(directory)


async def test_a_crashed_process_journal_is_stored_once_at_the_next_start(
    settings: Settings,
) -> None:
    directory = settings.audit_journal_path
    events = await _journal_and_die(directory, 5)
    assert [query(e) for e in events] == [f"GET Patient/p{i}" for i in range(5)]
    assert settings.mongodb_uri is not None
    mongo = connect(settings.mongodb_uri)
    try:
        db = mongo[settings.database]
        # The dead process had stored its first two before it was killed.
        tool = AuditTrail(wire(db, settings.max_json_depth).repository)
        for event in events[:2]:
            await tool.record(event)
        for _ in range(2):  # a second start finds nothing left to store
            await _run_app(settings)
            assert list(directory.glob(f"*{SUFFIX}")) == []
            ids = [doc["_id"] async for doc in db["AuditEvent"].find({}).sort("seq", 1)]
            assert ids == [event["id"] for event in events]
            verdict = await verify_chain(db)
            assert verdict.intact and verdict.checked == 5
    finally:
        await mongo.close()


async def test_the_shutdown_stores_every_pending_event_and_removes_the_journal(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal_module, "ROTATE_BYTES", 2000)  # a new file every event or two
    app = create_app(settings, create_indexes=False)
    async with app.router.lifespan_context(app):
        for _ in range(200):
            if app.state.auth is not None:
                break
            await asyncio.sleep(0.05)

        gate = asyncio.Event()

        async def stalled(original: Insert, *args: Any) -> Any:
            await gate.wait()
            return await original(*args)

        wrap_inserts(app, monkeypatch, stalled)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url=TEST_BASE + "/", headers=bearer(app, ADMIN)
        ) as http:
            answers = await asyncio.gather(*(http.get(f"Patient/n{i}") for i in range(12)))
        assert [answer.status_code for answer in answers] == [404] * 12
        assert len(journaled(settings.audit_journal_path)) == 12
        assert app.state.audit.recorded == 0
        gate.set()  # the database is back as the server stops
    assert list(settings.audit_journal_path.glob(f"*{SUFFIX}")) == []
    queries = await stored_queries(settings)
    assert sorted(queries) == sorted(f"GET Patient/n{i}" for i in range(12))
