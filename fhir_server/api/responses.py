"""Shaping FHIR responses: resource bodies, write results (Prefer), 304s."""

from __future__ import annotations

import json
from decimal import Decimal

from starlette.requests import Request
from starlette.responses import Response

from fhir_server.api.context import fhir_base
from fhir_server.api.errors import operation_outcome
from fhir_server.api.negotiation import http_date, prefer_return, wants_pretty
from fhir_server.errors import Invalid, Issue
from fhir_server.model.json_input import dumps
from fhir_server.model.summary import MODES, elements, summary
from fhir_server.storage.versions import Version


def version_headers(version: Version) -> dict[str, str]:
    return {"ETag": version.etag, "Last-Modified": http_date(version.last_updated)}


def json_response(
    request: Request,
    body: bytes,
    media_type: str,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    if wants_pretty(request):
        body = dumps(json.loads(body, parse_float=Decimal), pretty=True)
    return Response(body, status_code=status, media_type=media_type, headers=headers)


def resource_response(
    request: Request, version: Version, media_type: str, body: bytes | None = None
) -> Response:
    """``body``: the resource as served, when it is not the version as stored."""
    body = body if body is not None else version.body
    assert body is not None
    body = _subset(request, body)
    return json_response(request, body, media_type, 200, version_headers(version))


def _subset(request: Request, body: bytes) -> bytes:
    """A read's ``_summary=true|text|data`` or ``_elements``."""
    mode = request.query_params.get("_summary")
    listed = request.query_params.get("_elements")
    if mode not in (None, "false", "count", *MODES):
        raise Invalid(f"_summary: {mode[:20]!r} is not one of true, text, data, count, false")
    if mode in ("true", "text", "data"):
        return dumps(summary(json.loads(body, parse_float=Decimal), mode))
    if listed:
        names = [name.strip() for name in listed.split(",") if name.strip()]
        return dumps(elements(json.loads(body, parse_float=Decimal), names))
    return body


def not_modified(version: Version) -> Response:
    return Response(status_code=304, headers=version_headers(version))


def write_response(
    request: Request, version: Version, status: int, media_type: str, what: str
) -> Response:
    """The answer to a create, update or patch, as the client's Prefer header asks."""
    headers = version_headers(version)
    headers["Location"] = f"{fhir_base(request)}/{version.location}"
    prefer = prefer_return(request)
    if prefer == "minimal" or version.body is None:
        return Response(status_code=status, headers=headers)
    if prefer == "OperationOutcome":
        text = f"{what} {version.rtype}/{version.id} (version {version.version})"
        outcome = operation_outcome([Issue("informational", text, severity="information")])
        return json_response(request, dumps(outcome), media_type, status, headers)
    return json_response(request, version.body, media_type, status, headers)
