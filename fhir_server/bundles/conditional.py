"""Conditional requests inside bundles (If-None-Exist, ``PUT Type?search``, conditional
references): the search, through the same engine as ``GET /Type?search``."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from fhir_server.errors import Invalid
from fhir_server.search.codes import CodeSets
from fhir_server.search.definitions import params_of_type
from fhir_server.search.parse import parse_search
from fhir_server.search.plan import plan
from fhir_server.storage.repository import Repository


async def matching_ids(
    repository: Repository,
    rtype: str,
    query: str,
    codes: CodeSets | None,
    session: AsyncClientSession | None = None,
    limit: int = 2,
) -> list[str]:
    """The ids of at most ``limit`` current resources the search finds. Unknown parameters
    are an error here: ignoring one would widen the match."""
    params = parse_qsl(query, keep_blank_values=True)
    if not params:
        raise Invalid(f"The condition {query[:80]!r} has no search parameters")
    search = parse_search(
        rtype, params, params_of_type, strict=True, default_count=limit, max_count=limit
    )
    planned = await plan(search, repository, None, codes)
    page = await repository.search(
        rtype, planned.queries, planned.sort, limit, None, session=session
    )
    return [version.id for version in page.versions]


CLAIMS = "medrec_conditional_creates"


async def claim(
    db: AsyncDatabase[Any], rtype: str, query: str, rid: str, session: AsyncClientSession
) -> None:
    """Inside the creating transaction, whose search for the condition found nothing, write the
    condition's key document. A concurrent transaction creating for the same condition writes
    it too: one of them fails with a write conflict and is retried, and its new snapshot holds
    the other's resource. (The search alone, read then write, let both create.)"""
    await db[CLAIMS].update_one(
        {"_id": condition_key(rtype, query)},
        {"$set": {"rid": rid, "at": datetime.now(UTC)}},
        upsert=True,
        session=session,
    )


def condition_key(rtype: str, query: str) -> str:
    """The same condition whatever the order of its parameters."""
    canonical = f"{rtype}?{urlencode(sorted(parse_qsl(query, keep_blank_values=True)))}"
    return hashlib.sha256(canonical.encode()).hexdigest()
