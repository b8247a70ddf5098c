"""``GET|POST /Patient/{id}/$everything``: the patient and every current resource in its
compartment, type by type (Patient first, then by type name), each type in ``_id`` order.

``_since`` (only resources updated since), ``_type`` (only these types) and ``_count`` apply;
pages follow ``next`` links whose cursor is a system search's (type position, ``_id``).
Resources the compartment's resources refer to (Practitioners, Organizations, Medications) are
not added: the compartment is what the patient's authorization covers.
"""

from __future__ import annotations

import dataclasses

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from fhir_server.api.context import FHIR_PATH, code_sets, fhir_base, services
from fhir_server.api.negotiation import response_media_type
from fhir_server.api.responses import json_response
from fhir_server.api.rest import ResourceId
from fhir_server.api.search import searchset
from fhir_server.api.system_search import page_across_types, requested_types
from fhir_server.errors import Invalid
from fhir_server.model.compartments import compartment_types
from fhir_server.model.datetimes import datetime_range
from fhir_server.model.ids import check_id
from fhir_server.model.resource_types import ON_REQUEST_ONLY, supported_types
from fhir_server.search.filters import Filter
from fhir_server.search.parse import SearchRequest, parse_search
from fhir_server.search.plan import Plan, plan
from terminology.operations import OperationDefinition, Param

router = APIRouter(prefix=FHIR_PATH, tags=["FHIR operations"])

DEFINITION = OperationDefinition(
    resource="Patient",
    code="everything",
    description="The patient and every current resource in its compartment, paged.",
    inputs=(
        Param("_since", "instant", doc="Only resources updated at or after this instant"),
        Param("_type", "code", max="*", doc="Only resources of these types (comma lists)"),
        Param("_count", "integer", doc="Page size"),
    ),
    outputs=(Param("return", "Bundle", min=1, doc="A searchset Bundle"),),
    type_level=False,
    url="http://hl7.org/fhir/OperationDefinition/Patient-everything",
)
# Handled here; _count and _cursor go to the search parser (as for any search).
_OWN = frozenset({"_since", "_type"})
_PAGING = frozenset({"_count", "_cursor", "_format", "_pretty"})


@router.get("/Patient/{rid:segment}/$everything", summary="everything: a patient's record")
async def everything_get(request: Request, rid: ResourceId) -> Response:
    return await _everything(request, check_id(rid))


@router.post("/Patient/{rid:segment}/$everything", summary="everything (POST, no body)")
async def everything_post(request: Request, rid: ResourceId) -> Response:
    return await _everything(request, check_id(rid))


async def _everything(request: Request, rid: str) -> Response:
    media = response_media_type(request)
    ctx = services(request)
    await ctx.repository.read("Patient", rid)  # 404 unknown, 410 deleted
    params = list(request.query_params.multi_items())
    search = _paging(request, params)
    since = [value for name, value in params if name == "_since"]
    if len(since) > 1:
        raise Invalid("_since: give it once")
    extra: Filter = {"comp": rid}
    if since:
        extra["ts"] = {"$gte": datetime_range(since[0], "_since")[0]}
    types = _types([value for name, value in params if name == "_type"])
    # What the user may not search is left out (a patient app may see a patient's labs only).
    types = [rtype for rtype in types if ctx.repository.permitted(rtype, "s")]
    # Types never stored have no collection: passed over rather than created by a read.
    absent = set(types) - await ctx.repository.stored_types()

    async def plan_of(rtype: str) -> Plan:
        one_type = dataclasses.replace(search, rtype=rtype)
        return await plan(one_type, ctx.repository, extra, code_sets(request))

    page = await page_across_types(
        ctx.repository, types, plan_of, search.count, search.cursor, absent
    )
    leading = [(name, value) for name, value in params if name in _OWN]
    bundle = searchset(fhir_base(request), request.url.path, search, page, [], None, leading)
    return json_response(request, orjson.dumps(bundle), media)


def _paging(request: Request, params: list[tuple[str, str]]) -> SearchRequest:
    strict = "handling=strict" in request.headers.get("prefer", "").replace(" ", "")
    unknown = [name for name, _ in params if name not in _OWN | _PAGING]
    if unknown and strict:
        raise Invalid(f"{unknown[0][:80]}: not a parameter of $everything")
    settings = services(request).settings
    return parse_search(
        "Resource",
        [(name, value) for name, value in params if name in _PAGING],
        lambda _: {},
        strict=strict,
        default_count=settings.search_page_size,
        max_count=settings.search_max_page_size,
    )


def _types(values: list[str]) -> list[str]:
    """The compartment's types, in their fixed order (cursors hold positions in it), narrowed
    to those ``_type`` names."""
    served = [rtype for rtype in compartment_types() if rtype in supported_types()]
    if not values:
        return [rtype for rtype in served if rtype not in ON_REQUEST_ONLY]
    wanted = set(requested_types(values))
    return [rtype for rtype in served if rtype in wanted]
