"""The test's own database, its repository, one Tesseract, a page pool of two processes, and a
scan job runner over them."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from fhir_server.bulk.load import open_repository
from fhir_server.storage.repository import Repository
from ingestion.jobs import IngestJobs, JobRunner
from ingestion.scans.commit import Committer
from ingestion.scans.ocr import Ocr
from ingestion.scans.pool import PagePool
from ingestion.scans.vault import ScanVault


@pytest.fixture(scope="session")
def ocr() -> Iterator[Ocr]:
    with Ocr() as engine:
        yield engine


@pytest.fixture(scope="session")
def page_pool() -> Iterator[PagePool]:
    """Shared by the session's runners: its processes start once."""
    pool = PagePool(2)
    yield pool
    pool.close()


@pytest.fixture
async def db(mongodb_uri: str, database_name: str) -> AsyncIterator[AsyncDatabase[Any]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    try:
        yield client[database_name]
    finally:
        await client.close()


@pytest.fixture
async def repository(db: AsyncDatabase[Any]) -> Repository:
    repository, _ = await open_repository(db, 64)
    return repository


@pytest.fixture
async def committer(db: AsyncDatabase[Any], repository: Repository) -> Committer:
    found = Committer(repository, None, ScanVault(db, secrets.token_bytes(32)))
    await found.ensure()
    return found


@pytest.fixture
async def runner(db: AsyncDatabase[Any], committer: Committer, page_pool: PagePool) -> JobRunner:
    found = JobRunner(IngestJobs(db), committer, page_pool)
    await found.ensure()
    return found  # not closed: that would close the session's pool
