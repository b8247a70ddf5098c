"""``run_transaction`` against real write conflicts: concurrent transactions that all update
one document (the database lets the first writer win and aborts the others)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from fhir_server.config import Settings
from fhir_server.errors import Conflict
from fhir_server.storage.transactions import run_transaction

WRITERS = 6


@pytest.fixture
async def mongo(settings: Settings) -> AsyncIterator[AsyncMongoClient[Any]]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(settings.mongodb_uri)
    db = client[settings.database]
    await db.create_collection("counter")
    await db.create_collection("log")
    await db["counter"].insert_one({"_id": "c", "n": 0})
    yield client
    await client.close()


def contended_increment(
    client: AsyncMongoClient[Any], database: str, writer: int, attempts: list[int]
) -> Any:
    async def work(session: AsyncClientSession) -> int:
        attempts[writer] += 1
        db = client[database]
        # A write of its own first: it must vanish with every attempt that conflicts.
        await db["log"].insert_one({"writer": writer, "attempt": attempts[writer]}, session=session)
        await db["counter"].update_one({"_id": "c"}, {"$inc": {"n": 1}}, session=session)
        await asyncio.sleep(0.05)  # hold the document so that the others collide with it
        return writer

    return work


async def test_every_conflicting_transaction_commits_exactly_once(
    mongo: AsyncMongoClient[Any], settings: Settings
) -> None:
    attempts = [0] * WRITERS
    done = await asyncio.gather(
        *(
            run_transaction(mongo, contended_increment(mongo, settings.database, w, attempts))
            for w in range(WRITERS)
        )
    )
    assert sorted(done) == list(range(WRITERS))
    db = mongo[settings.database]
    assert (await db["counter"].find_one({"_id": "c"}))["n"] == WRITERS
    assert sum(attempts) > WRITERS, "no conflict happened: the test proves nothing"
    # One log entry per writer: the writes of the attempts that conflicted were rolled back.
    logged = await db["log"].find({}, {"_id": 0}).to_list()
    assert sorted(entry["writer"] for entry in logged) == list(range(WRITERS))
    assert all(entry["attempt"] == attempts[entry["writer"]] for entry in logged)


async def test_a_transaction_that_always_conflicts_is_a_409(
    mongo: AsyncMongoClient[Any], settings: Settings
) -> None:
    attempts = [0] * WRITERS
    results = await asyncio.gather(
        *(
            run_transaction(
                mongo, contended_increment(mongo, settings.database, w, attempts), attempts=1
            )
            for w in range(WRITERS)
        ),
        return_exceptions=True,
    )
    conflicts = [r for r in results if isinstance(r, Conflict)]
    assert conflicts, "with one attempt each, concurrent writers must lose"
    assert all(isinstance(r, int | Conflict) for r in results)
    assert conflicts[0].status == 409
    committed = len(results) - len(conflicts)
    counter = await mongo[settings.database]["counter"].find_one({"_id": "c"})
    assert counter["n"] == committed


async def test_other_errors_are_not_retried(
    mongo: AsyncMongoClient[Any], settings: Settings
) -> None:
    calls = 0

    async def duplicate(session: AsyncClientSession) -> None:
        nonlocal calls
        calls += 1
        await mongo[settings.database]["counter"].insert_one({"_id": "c"}, session=session)

    with pytest.raises(DuplicateKeyError):
        await run_transaction(mongo, duplicate)
    assert calls == 1
