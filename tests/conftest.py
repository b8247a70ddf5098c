"""Shared fixtures: one real MongoDB-wire server per test session (the embedded SecantusDB, or
the server MEDREC_MONGODB_URI names), a fresh database per test, the real app over HTTP."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pymongo import MongoClient

from fhir_server.app import create_app
from fhir_server.config import Settings
from fhir_server.storage.embedded import EmbeddedDatabase
from smart_auth.audit.verify import verify_chain
from smart_auth.tokens import Grant


@pytest.fixture(scope="session")
def mongodb_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("MEDREC_MONGODB_URI")
    if external:
        yield external
        return
    with EmbeddedDatabase(tmp_path_factory.mktemp("embedded-db")) as database:
        yield database.uri


@pytest.fixture
def database_name(mongodb_uri: str) -> Iterator[str]:
    name = f"medrec_test_{uuid.uuid4().hex[:12]}"
    yield name
    with MongoClient(mongodb_uri) as client:
        client.drop_database(name)


@pytest.fixture
def settings(mongodb_uri: str, database_name: str, tmp_path: Path) -> Settings:
    return Settings(
        mongodb_uri=mongodb_uri,
        database=database_name,
        data_dir=Path("unused"),
        audit_journal_dir=tmp_path / "audit-journal",
    )


@pytest.fixture
async def app(settings: Settings, request: pytest.FixtureRequest) -> AsyncIterator[FastAPI]:
    application = create_app(settings, create_indexes=False)
    async with application.router.lifespan_context(application):
        for _ in range(200):  # authorization starts once the database has answered
            if application.state.auth is not None:
                break
            await asyncio.sleep(0.05)
        yield application
        if request.node.get_closest_marker("audit_tampered") is None:
            await _check_audit_trail(application)


async def _check_audit_trail(application: FastAPI) -> None:
    """After every test: each FHIR request it made left an AuditEvent, and the chain of them
    is intact (the whole suite is the audit trail's test)."""
    await asyncio.wait_for(application.state.audit.flush(), 60)  # stored in the background
    db = application.state.mongo[application.state.services.settings.database]
    verdict = await verify_chain(db)
    assert verdict.intact, f"audit chain broken at {verdict.broken_at}: {verdict.reason}"
    assert verdict.checked == application.state.audit.recorded
    # One "rest" event per audited request (logins add events of their own type).
    rest_events = await db["AuditEvent"].count_documents(
        {"res.type.code": "rest", "seq": {"$exists": True}}
    )
    assert rest_events == getattr(application.state, "audited_requests", 0)


TEST_BASE = "http://testserver/fhir"


def bearer(app: FastAPI, grant: Grant) -> dict[str, str]:
    """An Authorization header with a real access token for ``grant``, signed by the app."""
    minted = app.state.auth.tokens.mint(grant, issuer="http://testserver", audience=TEST_BASE)
    return {"Authorization": f"Bearer {minted.token}"}


ADMIN = Grant(subject="test-admin", client_id="medrec-tests", scope="user/*.*", role="admin")


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app over HTTP as an administrator (a real token, enforced and audited)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url=TEST_BASE + "/", timeout=60, headers=bearer(app, ADMIN)
    ) as http:
        yield http
