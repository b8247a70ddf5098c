"""HTTP routes of the terminology operations, type and instance level, GET and POST.

Thin: read the inputs (query or Parameters body), find the instance, call the operation module,
shape the response. Errors are ``fhir_server.errors`` exceptions, turned into OperationOutcome by
the app's handlers (``fhir_server.api.errors``).

Wiring: include ``router`` in the app *before* ``fhir_server.api.rest`` and
``fhir_server.api.search``: their ``/{rtype}/{rid}`` and ``/{compartment}/{cid}/{rtype}`` routes
would otherwise take ``/CodeSystem/$lookup`` and ``/CodeSystem/{id}/$lookup``. Set
``app.state.terminology`` to the ``TerminologyService`` to use (site content layered over the
bundled one); without it the bundled content alone is used.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path
from starlette.requests import Request
from starlette.responses import Response

from fhir_server.api.context import FHIR_PATH
from fhir_server.api.edge import read_body
from fhir_server.api.negotiation import request_media_type, response_media_type
from fhir_server.api.responses import json_response
from fhir_server.model.ids import check_id
from fhir_server.model.json_input import dumps, parse_json
from terminology import expand, lookup, subsumes, translate, validate_code
from terminology.operations import Inputs, OperationDefinition, from_parameters, from_query
from terminology.service import TerminologyService, default_service

JsonObject = dict[str, Any]
Runner = Callable[[TerminologyService, Inputs, JsonObject | None], JsonObject]
ResourceId = Annotated[str, Path(description="Logical id", max_length=64)]
# Used when the app has no FHIR services wired (the router alone, in tests): 1 MiB.
DEFAULT_MAX_BODY = 1024 * 1024

# Every operation this package serves: each becomes four routes and a CapabilityStatement entry.
OPERATIONS: tuple[tuple[OperationDefinition, Runner], ...] = (
    (lookup.DEFINITION, lookup.run),
    (subsumes.DEFINITION, subsumes.run),
    (validate_code.CODE_SYSTEM, validate_code.run_code_system),
    (expand.DEFINITION, expand.run),
    (validate_code.VALUE_SET, validate_code.run_value_set),
    (translate.DEFINITION, translate.run),
)

_PARAMETERS_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/fhir+json": {"schema": {"type": "object"}},
            "application/json": {"schema": {"type": "object"}},
        },
    }
}

router = APIRouter(prefix=FHIR_PATH, tags=["FHIR terminology"])


def terminology_service(request: Request) -> TerminologyService:
    service = getattr(request.app.state, "terminology", None)
    return service if isinstance(service, TerminologyService) else default_service()


def capability_operations() -> dict[str, list[JsonObject]]:
    """CapabilityStatement.rest.resource[type].operation entries, by resource type."""
    found: dict[str, list[JsonObject]] = {}
    for definition, _ in OPERATIONS:
        found.setdefault(definition.resource, []).append(
            {"name": definition.code, "definition": definition.canonical}
        )
    return found


def operation_definitions() -> list[JsonObject]:
    return [definition.resource_json() for definition, _ in OPERATIONS]


async def _answer(
    request: Request, definition: OperationDefinition, run: Runner, rid: str | None
) -> Response:
    media = response_media_type(request)
    service = terminology_service(request)
    if request.method == "POST":
        request_media_type(request)
        body = parse_json(await read_body(request, _max_body(request)))
        inputs = from_parameters(definition, body)
    else:
        inputs = from_query(definition, request.query_params.multi_items())
    instance = service.instance(definition.resource, check_id(rid)) if rid is not None else None
    return json_response(request, dumps(run(service, inputs, instance)), media)


def _max_body(request: Request) -> int:
    services = getattr(request.app.state, "services", None)
    settings = getattr(services, "settings", None)
    limit = getattr(settings, "max_body_bytes", None)
    return limit if isinstance(limit, int) else DEFAULT_MAX_BODY


def _type_level(
    definition: OperationDefinition, run: Runner
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return await _answer(request, definition, run, None)

    return endpoint


def _instance_level(
    definition: OperationDefinition, run: Runner
) -> Callable[[Request, str], Awaitable[Response]]:
    async def endpoint(request: Request, rid: ResourceId) -> Response:
        return await _answer(request, definition, run, rid)

    return endpoint


def _register() -> None:
    for definition, run in OPERATIONS:
        op = f"${definition.code}"
        base = f"/{definition.resource}"
        paths: list[tuple[str, Callable[..., Awaitable[Response]], str]] = [
            (f"{base}/{op}", _type_level(definition, run), "type")
        ]
        if definition.instance_level:
            paths.append((f"{base}/{{rid}}/{op}", _instance_level(definition, run), "instance"))
        for path, endpoint, level in paths:
            name = f"{definition.resource}-{definition.code}-{level}"
            summary = f"{definition.name} ({level})"
            router.add_api_route(
                path, endpoint, methods=["GET"], summary=summary, name=f"{name}-get"
            )
            router.add_api_route(
                path,
                endpoint,
                methods=["POST"],
                summary=summary,
                name=f"{name}-post",
                openapi_extra=_PARAMETERS_BODY,
            )


_register()
