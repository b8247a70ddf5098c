"""A Receiver on the test's own database (the session's real MongoDB-wire server)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pymongo import AsyncMongoClient

from fhir_server.bulk.load import open_repository
from ingestion.hl7v2.receive import Receiver
from ingestion.hl7v2.store import MessageStore


@pytest.fixture
async def receiver(mongodb_uri: str, database_name: str) -> AsyncIterator[Receiver]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    db = client[database_name]
    repository, codes = await open_repository(db, 64)
    store = MessageStore(db)
    await store.ensure()
    try:
        yield Receiver(repository, codes, store, ZoneInfo("Europe/Berlin"))
    finally:
        await client.close()
