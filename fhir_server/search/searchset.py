"""A type's search answered as a searchset Bundle: parse, plan, count, page, include. One path
for ``GET /{type}?...`` and for search entries in batch and transaction bundles."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import orjson
from pymongo.asynchronous.client_session import AsyncClientSession

from fhir_server.api.context import FHIR_PATH
from fhir_server.config import Settings
from fhir_server.model.json_input import dumps
from fhir_server.model.summary import elements, summary
from fhir_server.search.codes import CodeSets
from fhir_server.search.definitions import params_of_type
from fhir_server.search.include import included
from fhir_server.search.paging import (
    decode_any_cursor,
    encode_backward_cursor,
    encode_cursor,
    reversed_sort,
)
from fhir_server.search.parse import SearchRequest, parse_search
from fhir_server.search.plan import Plan, plan
from fhir_server.storage.repository import Repository, check_type
from fhir_server.storage.versions import Version, instant


@dataclass(frozen=True)
class ResultPage:
    versions: list[Version]
    next_key: list[Any] | None
    previous_key: list[Any] | None


async def search_type(
    repository: Repository,
    codes: CodeSets | None,
    settings: Settings,
    base: str,
    rtype: str,
    params: list[tuple[str, str]],
    *,
    path: str | None = None,
    extra: dict[str, Any] | None = None,
    strict: bool = False,
    session: AsyncClientSession | None = None,
) -> bytes:
    """The searchset Bundle (or, for ``_explain=true``, the Parameters explaining the plan) as
    JSON. ``path``: the request's path, for the links (``/{rtype}`` by default); ``extra``:
    a filter every match must also meet (a compartment); ``session``: inside a transaction,
    search its snapshot."""
    check_type(rtype)
    search = parse_search(
        rtype,
        params,
        params_of_type,
        strict=strict,
        default_count=settings.search_page_size,
        max_count=settings.search_max_page_size,
    )
    query = await plan(search, repository, extra, codes)
    if search.explain:
        explained = await repository.explain(rtype, query.queries, query.sort)
        return _explanation(query.queries, query.sort, explained)
    total = None
    # _count=0 asks for the number of matches only (fhirpy's count() sends it).
    if search.total != "none" or search.summary_count or search.count == 0:
        total = await repository.count(rtype, query.queries, session=session)
    if search.summary_count or search.count == 0:
        page = ResultPage([], None, None)
    else:
        page = await _page(repository, rtype, query, search, session)
    extras = await included(rtype, page.versions, search.includes, repository)
    bundle = searchset(base, path or f"/{rtype}", search, page, extras, total)
    return orjson.dumps(bundle)


async def _page(
    repository: Repository,
    rtype: str,
    query: Plan,
    search: SearchRequest,
    session: AsyncClientSession | None,
) -> ResultPage:
    """The requested page; a ``previous`` link's cursor reads backwards from its key (the sort
    reversed) and turns the result around."""
    if search.cursor is None:
        page = await repository.search(
            rtype, query.queries, query.sort, search.count, None, session=session
        )
        return ResultPage(page.versions, page.next_key, None)
    key, backward = decode_any_cursor(search.cursor, len(query.sort))
    if not backward:
        page = await repository.search(
            rtype, query.queries, query.sort, search.count, key, session=session
        )
        return ResultPage(page.versions, page.next_key, page.first_key)
    back = reversed_sort(query.sort)
    page = await repository.search(rtype, query.queries, back, search.count, key, session=session)
    # Read backwards, the first resource found is the last of the page in the search's order:
    # the next page starts after it (at ``key`` again); more found means an earlier page.
    return ResultPage(page.versions[::-1], page.first_key, page.next_key)


def searchset(
    base: str,
    path: str,
    search: SearchRequest,
    page: ResultPage,
    extras: list[Version],
    total: int | None,
    leading: list[tuple[str, str]] = (),  # type: ignore[assignment]
) -> dict[str, Any]:
    applied = [*leading, *search.applied_params()]
    self_url = f"{base}{path.removeprefix(FHIR_PATH)}?{urlencode(applied)}"
    links = [{"relation": "self", "url": self_url}]
    if page.next_key is not None:
        cursor = urlencode([("_cursor", encode_cursor(page.next_key))])
        links.append({"relation": "next", "url": f"{self_url}&{cursor}"})
    if page.previous_key is not None:
        cursor = urlencode([("_cursor", encode_backward_cursor(page.previous_key))])
        links.append({"relation": "previous", "url": f"{self_url}&{cursor}"})
    entries = [_entry(base, v, "match", search) for v in page.versions]
    entries += [_entry(base, v, "include", search) for v in extras]
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": instant(datetime.now(UTC)),
    }
    if total is not None:
        bundle["total"] = total
    bundle["link"] = links
    bundle["entry"] = entries
    return bundle


def _entry(base: str, version: Version, mode: str, search: SearchRequest) -> dict[str, Any]:
    body = version.body or b"{}"
    if search.elements and mode == "match":
        body = dumps(elements(json.loads(body, parse_float=Decimal), search.elements))
    elif search.summary in ("true", "text", "data"):
        body = dumps(summary(json.loads(body, parse_float=Decimal), search.summary))
    return {
        "fullUrl": f"{base}/{version.rtype}/{version.id}",
        "resource": orjson.Fragment(body),
        "search": {"mode": mode},
    }


def _explanation(
    queries: list[dict[str, Any]], sort: list[tuple[str, int]], plans: list[dict[str, Any]]
) -> bytes:
    """``_explain=true``: the MongoDB filters (a union: one per query), the sort and the
    database's plan of each, as Parameters."""

    def text(value: object) -> str:
        return json.dumps(value, default=str)  # key order matters: see filters

    parameters: list[dict[str, Any]] = []
    for query, explained in zip(queries, plans, strict=True):
        planner = explained.get("queryPlanner", explained)
        parameters += [
            {"name": "filter", "valueString": text(query)},
            {"name": "index", "valueString": explained.get("medrecIndex") or "none (scan)"},
            {"name": "plan", "valueString": text(planner.get("winningPlan", planner))},
        ]
    parameters.append({"name": "sort", "valueString": text(sort)})
    return dumps({"resourceType": "Parameters", "parameter": parameters})
