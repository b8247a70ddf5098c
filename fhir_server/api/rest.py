"""The FHIR RESTful interactions: read, vread, create, update, patch, delete, history.

Thin handlers: parse the HTTP request, call the repository, shape the response.
"""

from __future__ import annotations

import base64
import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Path
from starlette.requests import Request
from starlette.responses import Response

from fhir_server.api.binary import binary_response
from fhir_server.api.context import FHIR_PATH, code_sets, fhir_base, services
from fhir_server.api.edge import read_body
from fhir_server.api.errors import operation_outcome
from fhir_server.api.history import history_bundle, history_query
from fhir_server.api.negotiation import (
    etag_matches,
    not_modified_since,
    parse_version_tag,
    prefer_return,
    request_media_type,
    response_media_type,
)
from fhir_server.api.patch import PATCH_MEDIA_TYPES, patcher
from fhir_server.api.responses import (
    json_response,
    not_modified,
    resource_response,
    version_headers,
    write_response,
)
from fhir_server.bundles.entries import Entry
from fhir_server.bundles.process import Processor
from fhir_server.errors import Gone, Invalid, Issue
from fhir_server.model.ids import check_id, check_version_id
from fhir_server.model.json_input import dumps, parse_json, parse_resource

router = APIRouter(prefix=FHIR_PATH, tags=["FHIR REST"])

ResourceType = Annotated[str, Path(description="FHIR resource type, e.g. Patient", max_length=64)]
ResourceId = Annotated[str, Path(description="Logical id", max_length=64)]
VersionId = Annotated[str, Path(description="Version id (meta.versionId)", max_length=12)]

_FHIR_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/fhir+json": {"schema": {"type": "object"}},
            "application/json": {"schema": {"type": "object"}},
        },
    }
}
_PATCH_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json-patch+json": {"schema": {"type": "array", "items": {}}},
            "application/fhir+json": {"schema": {"type": "object"}},
            "application/merge-patch+json": {"schema": {"type": "object"}},
        },
    }
}


# History routes first: `/{rtype}/_history` must not be read as `/{rtype}/{rid}`.
@router.get("/_history", summary="history (whole system)")
async def history_system(request: Request) -> Response:
    return await _history(request, None, None)


@router.get("/{rtype:segment}/_history", summary="history (type)")
async def history_type(request: Request, rtype: ResourceType) -> Response:
    return await _history(request, rtype, None)


@router.get("/{rtype:segment}/{rid:segment}/_history", summary="history (instance)")
async def history_instance(request: Request, rtype: ResourceType, rid: ResourceId) -> Response:
    return await _history(request, rtype, check_id(rid))


@router.get("/{rtype:segment}/{rid:segment}", summary="read")
async def read(request: Request, rtype: ResourceType, rid: ResourceId) -> Response:
    media = None if rtype == "Binary" else response_media_type(request)
    version = await services(request).repository.read(rtype, check_id(rid))
    if etag_matches(request.headers.get("if-none-match"), version.version) or not_modified_since(
        request.headers.get("if-modified-since"), version.last_updated
    ):
        return not_modified(version)
    if media is None:
        return await binary_response(request, version)
    return resource_response(request, version, media)


@router.get("/{rtype:segment}/{rid:segment}/_history/{vid}", summary="vread")
async def vread(request: Request, rtype: ResourceType, rid: ResourceId, vid: VersionId) -> Response:
    media = None if rtype == "Binary" else response_media_type(request)
    repository = services(request).repository
    version = await repository.vread(rtype, check_id(rid), check_version_id(vid))
    if media is None:
        return await binary_response(request, version)
    return resource_response(request, version, media)


@router.post("/{rtype:segment}", summary="create", status_code=201, openapi_extra=_FHIR_BODY)
async def create(request: Request, rtype: ResourceType) -> Response:
    media = response_media_type(request)
    request_media_type(request)
    ctx = services(request)
    resource = parse_resource(await read_body(request, ctx.settings.max_body_bytes))
    condition = request.headers.get("if-none-exist")
    if condition:
        return await _conditional_create(request, rtype, resource, condition.lstrip("?"), media)
    version = await ctx.repository.create(resource, rtype)
    return write_response(request, version, 201, media, "Created")


async def _conditional_create(
    request: Request, rtype: str, resource: dict[str, Any], condition: str, media: str
) -> Response:
    """If-None-Exist: one match -> 200 with it, none -> 201, several -> 412. Run as a
    one-entry transaction, which makes concurrent identical requests create once."""
    if resource.get("resourceType") != rtype:
        raise Invalid(f"The resource is not a {rtype}")
    entry = Entry(0, "POST", rtype, None, None, None, resource, condition, None)
    processor = Processor(services(request).repository, code_sets(request))
    (outcome,) = await processor.transaction([entry])
    assert outcome.version is not None
    created = outcome.status.startswith("201")
    status, what = (201, "Created") if created else (200, "Found")
    return write_response(request, outcome.version, status, media, what)


@router.put("/{rtype:segment}", summary="conditional update", openapi_extra=_FHIR_BODY)
async def conditional_update(request: Request, rtype: ResourceType) -> Response:
    """``PUT /Type?search``: one match is updated, none is a create (with the body's id, if
    any), several is 412. A one-entry transaction: the search and the write are one."""
    media = response_media_type(request)
    request_media_type(request)
    ctx = services(request)
    if_match = parse_version_tag(request.headers.get("if-match"), "If-Match")
    resource = parse_resource(await read_body(request, ctx.settings.max_body_bytes))
    entry = Entry(0, "PUT", rtype, None, _condition(request), None, resource, None, if_match)
    (outcome,) = await Processor(ctx.repository, code_sets(request)).transaction([entry])
    assert outcome.version is not None
    created = outcome.status.startswith("201")
    status, what = (201, "Created") if created else (200, "Updated")
    return write_response(request, outcome.version, status, media, what)


@router.delete("/{rtype:segment}", summary="conditional delete", status_code=204)
async def conditional_delete(request: Request, rtype: ResourceType) -> Response:
    """``DELETE /Type?search``: the one match is deleted; none is a 204; several is 412."""
    entry = Entry(0, "DELETE", rtype, None, _condition(request), None, None, None, None)
    ctx = services(request)
    (outcome,) = await Processor(ctx.repository, code_sets(request)).transaction([entry])
    headers = version_headers(outcome.version) if outcome.version is not None else {}
    return Response(status_code=204, headers=headers)


@router.patch("/{rtype:segment}", summary="conditional patch", openapi_extra=_PATCH_BODY)
async def conditional_patch(request: Request, rtype: ResourceType) -> Response:
    """``PATCH /Type?search``: the one match is patched; none is 404; several is 412. A
    one-entry transaction whose patch is a Binary of the body, as a bundle would send it."""
    media = response_media_type(request)
    body_type = request_media_type(request, PATCH_MEDIA_TYPES)
    ctx = services(request)
    if_match = parse_version_tag(request.headers.get("if-match"), "If-Match")
    body = await read_body(request, ctx.settings.max_body_bytes)
    data = base64.b64encode(body).decode()
    binary = {"resourceType": "Binary", "contentType": body_type, "data": data}
    entry = Entry(0, "PATCH", rtype, None, _condition(request), None, binary, None, if_match)
    (outcome,) = await Processor(ctx.repository, code_sets(request)).transaction([entry])
    assert outcome.version is not None
    return write_response(request, outcome.version, 200, media, "Patched")


def _condition(request: Request) -> str:
    query = request.url.query
    if not query:
        raise Invalid("A conditional update, patch or delete needs search parameters")
    return query


@router.put(
    "/{rtype:segment}/{rid:segment}",
    summary="update (or create with a client id)",
    openapi_extra=_FHIR_BODY,
)
async def update(request: Request, rtype: ResourceType, rid: ResourceId) -> Response:
    media = response_media_type(request)
    request_media_type(request)
    ctx = services(request)
    if_match = parse_version_tag(request.headers.get("if-match"), "If-Match")
    resource = parse_resource(await read_body(request, ctx.settings.max_body_bytes))
    result = await ctx.repository.update(resource, rtype, check_id(rid), if_match=if_match)
    status, what = (201, "Created") if result.created else (200, "Updated")
    return write_response(request, result.version, status, media, what)


@router.patch("/{rtype:segment}/{rid:segment}", summary="patch", openapi_extra=_PATCH_BODY)
async def patch(request: Request, rtype: ResourceType, rid: ResourceId) -> Response:
    media = response_media_type(request)
    body_type = request_media_type(request, PATCH_MEDIA_TYPES)
    ctx = services(request)
    if_match = parse_version_tag(request.headers.get("if-match"), "If-Match")
    document = parse_json(await read_body(request, ctx.settings.max_body_bytes))
    apply = patcher(body_type, document)
    version = await ctx.repository.patch(rtype, check_id(rid), apply, if_match=if_match)
    return write_response(request, version, 200, media, "Patched")


@router.delete("/{rtype:segment}/{rid:segment}", summary="delete", status_code=204)
async def delete(request: Request, rtype: ResourceType, rid: ResourceId) -> Response:
    media = response_media_type(request)
    if_match = parse_version_tag(request.headers.get("if-match"), "If-Match")
    version = await services(request).repository.delete(rtype, check_id(rid), if_match=if_match)
    headers = version_headers(version) if version is not None else {}
    if prefer_return(request) == "OperationOutcome":
        text = f"Deleted {rtype}/{rid}" if version else f"{rtype}/{rid} was already deleted"
        outcome = operation_outcome([Issue("informational", text, severity="information")])
        return json_response(request, dumps(outcome), media, 200, headers)
    return Response(status_code=204, headers=headers)


async def _history(request: Request, rtype: str | None, rid: str | None) -> Response:
    media = response_media_type(request)
    ctx = services(request)
    settings = ctx.settings
    query = history_query(
        request, rtype, rid, settings.history_page_size, settings.history_max_page_size
    )
    if rid is not None and rtype is not None:
        await _must_exist(request, rtype, rid)
    page = await ctx.repository.history(query)
    return json_response(request, history_bundle(request, fhir_base(request), page), media)


async def _must_exist(request: Request, rtype: str, rid: str) -> None:
    """Instance history of an unknown id is a 404; of a deleted one it is still served."""
    with contextlib.suppress(Gone):
        await services(request).repository.read(rtype, rid)
