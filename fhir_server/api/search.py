"""Search: ``GET /{type}?...``, ``POST /{type}/_search`` (form body) and Patient compartment
search ``GET /Patient/{id}/{type}?...``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from fhir_server.api.context import FHIR_PATH, code_sets, fhir_base, services
from fhir_server.api.edge import read_body
from fhir_server.api.negotiation import request_media_type, response_media_type
from fhir_server.api.responses import json_response
from fhir_server.api.rest import ResourceId, ResourceType
from fhir_server.errors import Invalid, NotFound
from fhir_server.model.ids import check_id
from fhir_server.model.json_input import dumps
from fhir_server.model.summary import elements, summary
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

router = APIRouter(prefix=FHIR_PATH, tags=["FHIR search"])
FORM = "application/x-www-form-urlencoded"


@router.get("/{rtype:segment}", summary="search-type")
async def search_get(request: Request, rtype: ResourceType) -> Response:
    return await _search(request, rtype, list(request.query_params.multi_items()))


@router.post("/{rtype:segment}/_search", summary="search-type (form body)")
async def search_post(request: Request, rtype: ResourceType) -> Response:
    request_media_type(request, (FORM,))
    body = await read_body(request, services(request).settings.max_query_bytes)
    try:
        form = parse_qsl(body.decode(), keep_blank_values=True)
    except UnicodeDecodeError:
        raise Invalid("The form body is not UTF-8") from None
    return await _search(request, rtype, list(request.query_params.multi_items()) + form)


@router.get(
    "/{compartment:segment}/{cid:segment}/{rtype:segment}",
    summary="search-type in a Patient compartment",
)
async def search_compartment(
    request: Request, compartment: ResourceType, cid: ResourceId, rtype: ResourceType
) -> Response:
    if compartment != "Patient":
        raise NotFound(f"Compartment search is served for Patient compartments, not {compartment}")
    check_id(cid)
    extra = {"_id": cid} if rtype == "Patient" else {"comp": cid}
    return await _search(request, rtype, list(request.query_params.multi_items()), extra)


async def _search(
    request: Request,
    rtype: str,
    params: list[tuple[str, str]],
    extra: dict[str, Any] | None = None,
) -> Response:
    media = response_media_type(request)
    check_type(rtype)
    ctx = services(request)
    settings = ctx.settings
    search = parse_search(
        rtype,
        params,
        params_of_type,
        strict="handling=strict" in request.headers.get("prefer", "").replace(" ", ""),
        default_count=settings.search_page_size,
        max_count=settings.search_max_page_size,
    )
    repository = ctx.repository
    query = await plan(search, repository, extra, code_sets(request))
    if search.explain:
        explained = await repository.explain(rtype, query.queries, query.sort)
        return json_response(request, _explanation(query.queries, query.sort, explained), media)
    total = None
    # _count=0 asks for the number of matches only (fhirpy's count() sends it).
    if search.total != "none" or search.summary_count or search.count == 0:
        total = await repository.count(rtype, query.queries)
    if search.summary_count or search.count == 0:
        page = ResultPage([], None, None)
    else:
        page = await _page(repository, rtype, query, search)
    extras = await included(rtype, page.versions, search.includes, repository)
    base = fhir_base(request)
    bundle = searchset(base, request.url.path, search, page, extras, total)
    return json_response(request, orjson.dumps(bundle), media)


@dataclass(frozen=True)
class ResultPage:
    versions: list[Version]
    next_key: list[Any] | None
    previous_key: list[Any] | None


async def _page(
    repository: Repository, rtype: str, query: Plan, search: SearchRequest
) -> ResultPage:
    """The requested page; a ``previous`` link's cursor reads backwards from its key (the sort
    reversed) and turns the result around."""
    if search.cursor is None:
        page = await repository.search(rtype, query.queries, query.sort, search.count, None)
        return ResultPage(page.versions, page.next_key, None)
    key, backward = decode_any_cursor(search.cursor, len(query.sort))
    if not backward:
        page = await repository.search(rtype, query.queries, query.sort, search.count, key)
        return ResultPage(page.versions, page.next_key, page.first_key)
    back = reversed_sort(query.sort)
    page = await repository.search(rtype, query.queries, back, search.count, key)
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
