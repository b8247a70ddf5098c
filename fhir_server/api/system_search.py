"""System-level search: ``GET /?_type=Patient,Observation&...`` (``_type`` optional).

Only the parameters every listed type has apply (``_id``, ``_lastUpdated``, ``_tag``,
``_profile``, ``_security``, ``_source`` and any other they share). Results come type by type,
in the order of ``_type`` (all served types alphabetically without it), each type in the
requested sort order; the paging cursor holds the type's position and its sort key.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable, Container, Sequence
from typing import Any

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from fhir_server.api.context import FHIR_PATH, code_sets, fhir_base, services
from fhir_server.api.negotiation import response_media_type
from fhir_server.api.responses import json_response
from fhir_server.api.search import ResultPage, searchset
from fhir_server.errors import Forbidden, Invalid
from fhir_server.model.resource_types import ON_REQUEST_ONLY, supported_types
from fhir_server.search.definitions import SearchParam, search_params
from fhir_server.search.paging import decode_cursor
from fhir_server.search.parse import SearchRequest, parse_search
from fhir_server.search.plan import Plan, plan
from fhir_server.storage.repository import Repository
from fhir_server.storage.versions import Version

router = APIRouter(prefix=FHIR_PATH, tags=["FHIR search"])
_TYPE = re.compile(r"[A-Z][A-Za-z]{1,63}")
_ANY = "Resource"  # what the parser is told it searches


@router.get("", summary="search-system")
async def search_system(request: Request) -> Response:
    media = response_media_type(request)
    params = list(request.query_params.multi_items())
    named = [value for name, value in params if name == "_type"]
    ctx = services(request)
    types = requested_types(named)
    if not named:  # every type the user may search
        types = [rtype for rtype in types if ctx.repository.permitted(rtype, "s")]
        if not types:
            raise Forbidden("The access token allows searching no resource type")
    common = _common_params(types)
    search = parse_search(
        _ANY,
        [(name, value) for name, value in params if name != "_type"],
        lambda rtype: common if rtype == _ANY else None,
        strict="handling=strict" in request.headers.get("prefer", "").replace(" ", ""),
        default_count=ctx.settings.search_page_size,
        max_count=ctx.settings.search_max_page_size,
    )
    if search.includes or search.explain:
        raise Invalid("_include, _revinclude and _explain are not supported on system search")
    total = None
    if search.total != "none" or search.summary_count or search.count == 0:
        total = 0
        for rtype in types:
            query = await _plan(request, search, rtype)
            total += await ctx.repository.count(rtype, query.queries)
    page = ResultPage([], None, None)
    if not (search.summary_count or search.count == 0):
        page = await _page(request, search, types)
    leading = [("_type", ",".join(types))] if "_type" in request.query_params else []
    bundle = searchset(fhir_base(request), request.url.path, search, page, [], total, leading)
    return json_response(request, orjson.dumps(bundle), media)


async def _page(request: Request, search: SearchRequest, types: list[str]) -> ResultPage:
    repository = services(request).repository
    return await page_across_types(
        repository, types, lambda rtype: _plan(request, search, rtype), search.count, search.cursor
    )


async def page_across_types(
    repository: Repository,
    types: Sequence[str],
    plan_of: Callable[[str], Awaitable[Plan]],
    count: int,
    cursor: str | None,
    skip: Container[str] = (),
) -> ResultPage:
    """One page of results type by type, in the order of ``types`` (every type's plan must
    sort on the same number of keys). The cursor holds the type's position in ``types`` and
    its sort key, so ``types`` must be the same list on every page; ``skip``: types known to
    hold no match (no collection yet), passed over without a query."""
    if not types:
        return ResultPage([], None, None)
    first = await plan_of(types[0])
    start, key = _decode(cursor, len(types), len(first.sort)) if cursor else (0, None)
    found: list[Version] = []
    for position in range(start, len(types)):
        rtype = types[position]
        if rtype in skip:
            continue
        query = first if position == 0 else await plan_of(rtype)
        wanted = count - len(found)
        page = await repository.search(
            rtype, query.queries, query.sort, wanted, key if position == start else None
        )
        found += page.versions
        if page.next_key is not None:
            return ResultPage(found, [position, 1, *page.next_key], None)
        if len(found) == count:
            # Full: the next page starts with the following type (it may hold no match).
            rest = [p for p in range(position + 1, len(types)) if types[p] not in skip]
            next_key = [rest[0], 0, *[None] * len(query.sort)] if rest else None
            return ResultPage(found, next_key, None)
    return ResultPage(found, None, None)


def _decode(cursor: str, types: int, sort_size: int) -> tuple[int, list[Any] | None]:
    """[type position, 1 if a sort key follows else 0, *sort key] -> (position, key)."""
    values = decode_cursor(cursor, sort_size + 2)
    start, started = values[0], values[1]
    if not isinstance(start, int) or not 0 <= start < types or started not in (0, 1):
        raise Invalid("_cursor: not a paging cursor issued by this server for this search")
    return start, values[2:] if started else None


async def _plan(request: Request, search: SearchRequest, rtype: str) -> Plan:
    one_type = dataclasses.replace(search, rtype=rtype)
    return await plan(one_type, services(request).repository, None, code_sets(request))


def requested_types(values: list[str]) -> list[str]:
    """The types named by ``_type`` values (comma lists), in order; all served types without."""
    if not values:
        return sorted(supported_types() - ON_REQUEST_ONLY)
    out: list[str] = []
    for value in values:
        for name in value.split(","):
            name = name.strip()
            if not _TYPE.fullmatch(name) or name not in supported_types():
                raise Invalid(f"_type: {name[:40]!r} is not a resource type served here")
            if name not in out:
                out.append(name)
    return out


def _common_params(types: list[str]) -> dict[str, SearchParam]:
    first = search_params(types[0])
    shared = set(first)
    for rtype in types[1:]:
        shared &= set(search_params(rtype))
    return {code: first[code] for code in shared}
