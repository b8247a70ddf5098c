"""``POST /`` with a Bundle: ``transaction`` (all or nothing) or ``batch`` (entry by entry)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from fhir_server.api.context import FHIR_PATH, code_sets, fhir_base, services
from fhir_server.api.edge import read_body
from fhir_server.api.errors import operation_outcome
from fhir_server.api.negotiation import prefer_return, request_media_type, response_media_type
from fhir_server.api.responses import json_response
from fhir_server.bundles.entries import parse_entries
from fhir_server.bundles.process import Outcome, Processor
from fhir_server.errors import Invalid
from fhir_server.model.json_input import parse_resource
from fhir_server.storage.versions import instant

router = APIRouter(prefix=FHIR_PATH, tags=["FHIR bundles"])
KINDS = {"transaction": "transaction-response", "batch": "batch-response"}


@router.post("", summary="transaction / batch")
async def bundle(request: Request) -> Response:
    media = response_media_type(request)
    request_media_type(request)
    ctx = services(request)
    body = parse_resource(await read_body(request, ctx.settings.max_body_bytes))
    if body.get("resourceType") != "Bundle" or body.get("type") not in KINDS:
        raise Invalid("POST to the base takes a Bundle of type transaction or batch")
    entries = parse_entries(body, ctx.settings.max_bundle_entries)
    base = fhir_base(request)
    processor = Processor(ctx.repository, code_sets(request), ctx.settings, base)
    kind = str(body["type"])
    if kind == "transaction":
        outcomes = await processor.transaction(entries)
    else:
        outcomes = await processor.batch(entries)
    with_resource = prefer_return(request) == "representation"
    answer = {
        "resourceType": "Bundle",
        "type": KINDS[kind],
        "timestamp": instant(datetime.now(UTC)),
        "entry": [_response_entry(outcome, base, with_resource) for outcome in outcomes],
    }
    return json_response(request, orjson.dumps(answer), media)


def _response_entry(outcome: Outcome, base: str, with_resource: bool) -> dict[str, Any]:
    response: dict[str, Any] = {"status": outcome.status}
    entry: dict[str, Any] = {}
    version = outcome.version
    if version is not None and not version.deleted:
        entry["fullUrl"] = f"{base}/{version.rtype}/{version.id}"
        response["location"] = f"{version.rtype}/{version.id}/_history/{version.version}"
        response["etag"] = f'W/"{version.version}"'
        response["lastModified"] = instant(version.last_updated)
        if with_resource and version.body is not None:
            entry["resource"] = orjson.Fragment(version.body)
    if outcome.body is not None:  # what a search answers, whatever Prefer says
        entry["resource"] = orjson.Fragment(outcome.body)
    if outcome.error is not None:
        response["outcome"] = operation_outcome(outcome.error.all_issues())
    entry["response"] = response
    return entry
