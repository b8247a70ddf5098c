"""Shared fixtures: one real MongoDB-wire server per test session (the embedded SecantusDB, or
the server MEDREC_MONGODB_URI names), a fresh database per test, the real app over HTTP."""

from __future__ import annotations

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
def settings(mongodb_uri: str, database_name: str) -> Settings:
    return Settings(mongodb_uri=mongodb_uri, database=database_name, data_dir=Path("unused"))


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings, create_indexes=False)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver/fhir/", timeout=60
    ) as http:
        yield http
