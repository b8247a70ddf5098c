"""One multi-document transaction, run again after a write conflict until it commits.

A transaction that loses a write conflict (``TransientTransactionError``) is retried whole, as
the MongoDB drivers' ``with_transaction`` does, but with two differences that matter for big
bundles. Retries wait a random, growing delay, so that two large transactions that collided do
not start again in step. And a retry runs in this process's *retry lane*, one at a time: four
3,000-entry bundles posted at once to a fresh database all conflicted on their inserts, and
retried side by side they kept conflicting until every attempt was spent (409 for three of
the four); in the lane, each retry competes at most with first attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import PyMongoError

from fhir_server.errors import Conflict

T = TypeVar("T")

MAX_ATTEMPTS = 8
FIRST_DELAY_S = 0.02  # the longest wait before the n-th retry is FIRST_DELAY_S * 2**n
CONFLICT_MESSAGE = "The transaction kept conflicting with other writes"

# One lane per event loop (an asyncio.Lock belongs to the loop it is first used on).
_lanes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _retry_lane() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lane = _lanes.get(loop)
    if lane is None:
        lane = _lanes[loop] = asyncio.Lock()
    return lane


async def run_transaction(
    client: AsyncMongoClient[Any],
    work: Callable[[AsyncClientSession], Awaitable[T]],
    *,
    attempts: int = MAX_ATTEMPTS,
) -> T:
    """``work(session)`` inside a transaction, committed on return; after a write conflict,
    all of it again (``work`` must not keep state from a failed attempt). ``Conflict`` (409)
    when every attempt conflicted; any other error is raised as it is."""
    for attempt in range(attempts):
        lane = _retry_lane() if attempt else contextlib.nullcontext()
        async with lane:
            try:
                async with client.start_session() as session, await session.start_transaction():
                    return await work(session)
            except PyMongoError as error:
                if not error.has_error_label("TransientTransactionError"):
                    raise
        await asyncio.sleep(random.uniform(0, FIRST_DELAY_S * 2**attempt))  # noqa: S311
    raise Conflict(CONFLICT_MESSAGE)
