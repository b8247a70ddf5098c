"""``POST /{type}/$validate`` and ``POST /{type}/{id}/$validate``: would this write be accepted?

The body is the resource, or a Parameters with ``resource`` and ``mode``; ``mode`` may also be a
query parameter. The checks are the repository's own for a create or an update (type, shape,
model, required bindings), and nothing is stored. The answer is 200 with an OperationOutcome
either way (the spec's $validate): "All OK", or the issues found. Only a body that is no
resource at all is a 400. ``mode=delete`` asks whether the instance exists to be deleted.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from fhir_server.api.context import FHIR_PATH, services
from fhir_server.api.edge import read_body
from fhir_server.api.errors import operation_outcome
from fhir_server.api.negotiation import request_media_type, response_media_type
from fhir_server.api.responses import json_response
from fhir_server.api.rest import ResourceId, ResourceType
from fhir_server.errors import Invalid, Issue, Unprocessable
from fhir_server.model.ids import check_id
from fhir_server.model.json_input import dumps, parse_json
from fhir_server.storage.repository import check_type
from terminology.operations import OperationDefinition, Param

router = APIRouter(prefix=FHIR_PATH, tags=["FHIR operations"])

DEFINITION = OperationDefinition(
    resource="Resource",
    code="validate",
    description="Validate a resource as a create, an update or a delete would; store nothing.",
    inputs=(
        Param("resource", "Resource", doc="The resource (required unless mode is delete)"),
        Param("mode", "code", doc="create | update | delete"),
    ),
    outputs=(Param("return", "OperationOutcome", min=1, doc="All OK, or the issues found"),),
    url="http://hl7.org/fhir/OperationDefinition/Resource-validate",
)
MODES = ("create", "update", "delete")
_BODY: dict[str, Any] = {
    "requestBody": {
        "content": {
            "application/fhir+json": {"schema": {"type": "object"}},
            "application/json": {"schema": {"type": "object"}},
        },
    }
}


@router.post("/{rtype:segment}/$validate", summary="validate (type)", openapi_extra=_BODY)
async def validate_type(request: Request, rtype: ResourceType) -> Response:
    return await _validate(request, rtype, None)


@router.post(
    "/{rtype:segment}/{rid:segment}/$validate", summary="validate (instance)", openapi_extra=_BODY
)
async def validate_instance(request: Request, rtype: ResourceType, rid: ResourceId) -> Response:
    return await _validate(request, rtype, check_id(rid))


async def _validate(request: Request, rtype: str, rid: str | None) -> Response:
    media = response_media_type(request)
    check_type(rtype)
    repository = services(request).repository
    resource, mode = await _inputs(request, rtype)
    # On an instance the default is the update of that instance; on the type, a create.
    mode = mode or ("update" if rid else "create")
    if mode == "delete":
        if rid is None:
            raise Invalid("mode=delete validates the deletion of an instance: POST to its URL")
        await repository.read(rtype, rid)  # 404 unknown, 410 deleted
        issue = Issue("informational", f"{rtype}/{rid} exists and may be deleted", "information")
        return _outcome(request, media, [issue])
    if resource is None:
        raise Invalid("$validate needs a resource: the body, or a Parameters with 'resource'")
    try:
        target = _update_target(resource, rid) if mode == "update" else None
        repository.validate(resource, rtype, target)
    except (Invalid, Unprocessable) as failed:
        return _outcome(request, media, failed.all_issues())
    return _outcome(request, media, [Issue("informational", "All OK", "information")])


def _update_target(resource: dict[str, Any], rid: str | None) -> str:
    """An update names its id: the instance's, or on the type level the resource's own."""
    target = rid or resource.get("id")
    if not isinstance(target, str):
        raise Invalid("mode=update: the resource has no id")
    return target


async def _inputs(request: Request, rtype: str) -> tuple[dict[str, Any] | None, str | None]:
    """(resource, mode) from the body (a resource or a Parameters) and the query."""
    mode = request.query_params.get("mode")
    body = await read_body(request, services(request).settings.max_body_bytes)
    resource: dict[str, Any] | None = None
    if body.strip():
        request_media_type(request)
        tree = parse_json(body)
        if not isinstance(tree, dict):
            raise Invalid("The body must be a JSON object: a resource or a Parameters")
        resource = tree
        if tree.get("resourceType") == "Parameters" and rtype != "Parameters":
            resource, mode = _from_parameters(tree, mode)
    if mode is not None and mode not in MODES:
        raise Invalid(f"mode: {mode[:40]!r} is not one of {', '.join(MODES)}")
    return resource, mode


def _from_parameters(
    parameters: dict[str, Any], mode: str | None
) -> tuple[dict[str, Any] | None, str | None]:
    resource = None
    entries = parameters.get("parameter", [])
    for entry in entries if isinstance(entries, list) else []:
        name = entry.get("name") if isinstance(entry, dict) else None
        if name == "resource":
            if not isinstance(entry.get("resource"), dict):
                raise Invalid("Parameters: 'resource' must hold a resource")
            resource = entry["resource"]
        elif name == "mode":
            mode = entry.get("valueCode") or entry.get("valueString")
            if not isinstance(mode, str):
                raise Invalid("Parameters: 'mode' must be a code")
    return resource, mode


def _outcome(request: Request, media: str, issues: list[Issue]) -> Response:
    return json_response(request, dumps(operation_outcome(issues)), media)
