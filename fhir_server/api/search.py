"""Search: ``GET /{type}?...``, ``POST /{type}/_search`` (form body) and Patient compartment
search ``GET /Patient/{id}/{type}?...``. The search itself is ``search.searchset``'s."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

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
from fhir_server.search.searchset import ResultPage, search_type, searchset

__all__ = ["ResultPage", "router", "searchset"]  # the searchset's parts, for other searches

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
    ctx = services(request)
    body = await search_type(
        ctx.repository,
        code_sets(request),
        ctx.settings,
        fhir_base(request),
        rtype,
        params,
        path=request.url.path,
        extra=extra,
        strict="handling=strict" in request.headers.get("prefer", "").replace(" ", ""),
    )
    return json_response(request, body, media)
