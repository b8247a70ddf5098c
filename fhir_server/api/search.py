"""Type-level search: ``GET /{type}?...`` and ``POST /{type}/_search`` (form body)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from fhir_server.api.context import FHIR_PATH, fhir_base, services
from fhir_server.api.edge import read_body
from fhir_server.api.negotiation import request_media_type, response_media_type
from fhir_server.api.responses import json_response
from fhir_server.api.rest import ResourceType
from fhir_server.errors import Invalid
from fhir_server.search.definitions import search_params
from fhir_server.search.paging import decode_cursor, encode_cursor
from fhir_server.search.parse import SearchRequest, parse_search
from fhir_server.search.plan import plan
from fhir_server.storage.repository import SearchPage, check_type
from fhir_server.storage.versions import instant

router = APIRouter(prefix=FHIR_PATH, tags=["FHIR search"])
FORM = "application/x-www-form-urlencoded"


@router.get("/{rtype}", summary="search-type")
async def search_get(request: Request, rtype: ResourceType) -> Response:
    return await _search(request, rtype, list(request.query_params.multi_items()))


@router.post("/{rtype}/_search", summary="search-type (form body)")
async def search_post(request: Request, rtype: ResourceType) -> Response:
    request_media_type(request, (FORM,))
    body = await read_body(request, services(request).settings.max_query_bytes)
    try:
        form = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise Invalid("The form body is not UTF-8") from None
    return await _search(request, rtype, list(request.query_params.multi_items()) + form)


async def _search(request: Request, rtype: str, params: list[tuple[str, str]]) -> Response:
    media = response_media_type(request)
    check_type(rtype)
    ctx = services(request)
    settings = ctx.settings
    search = parse_search(
        rtype,
        params,
        search_params(rtype),
        strict="handling=strict" in request.headers.get("prefer", "").replace(" ", ""),
        default_count=settings.search_page_size,
        max_count=settings.search_max_page_size,
    )
    query = plan(search)
    after = decode_cursor(search.cursor, len(query.sort)) if search.cursor else None
    page = await ctx.repository.search(rtype, query.filter, query.sort, search.count, after)
    bundle = _searchset(fhir_base(request), search, page)
    return json_response(request, orjson.dumps(bundle), media)


def _searchset(base: str, search: SearchRequest, page: SearchPage) -> dict[str, Any]:
    applied = search.applied_params()
    self_url = f"{base}/{search.rtype}?{urlencode(applied)}"
    links = [{"relation": "self", "url": self_url}]
    if page.next_key is not None:
        cursor = encode_cursor(page.next_key)
        links.append({"relation": "next", "url": f"{self_url}&{urlencode([('_cursor', cursor)])}"})
    entries = [
        {
            "fullUrl": f"{base}/{v.rtype}/{v.id}",
            "resource": orjson.Fragment(v.body or b"{}"),
            "search": {"mode": "match"},
        }
        for v in page.versions
    ]
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": instant(datetime.now(UTC)),
        "link": links,
        "entry": entries,
    }
    return bundle
