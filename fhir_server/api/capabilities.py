"""GET /metadata: the CapabilityStatement, generated from what this server implements."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from fhir_server import __version__
from fhir_server.api.context import FHIR_PATH, fhir_base
from fhir_server.api.negotiation import JSON_PATCH, response_media_type
from fhir_server.api.operations import everything, export, validate
from fhir_server.api.responses import json_response
from fhir_server.model.resource_types import supported_types
from fhir_server.search.definitions import search_params
from terminology.api import capability_operations

router = APIRouter(prefix=FHIR_PATH, tags=["FHIR REST"])

# Each of these has a route in api/rest.py and a test in tests/api/test_rest.py.
TYPE_INTERACTIONS = (
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
)
SYSTEM_INTERACTIONS = ("transaction", "batch", "history-system", "search-system")
# $operations of the core by resource type, besides $validate on every type (terminology
# declares its own).
VALIDATE = {"name": validate.DEFINITION.code, "definition": validate.DEFINITION.canonical}
EVERYTHING = {"name": everything.DEFINITION.code, "definition": everything.DEFINITION.canonical}
LABELS = {
    "name": "labels",
    "definition": "https://medrec.dev/fhir/OperationDefinition/Patient-labels",
}
EXPORT = {"name": "export", "definition": export.PATIENT_DEFINITION.canonical}
GROUP_EXPORT = {"name": "export", "definition": export.GROUP_DEFINITION.canonical}
CORE_OPERATIONS = {"Patient": [LABELS, EVERYTHING, EXPORT], "Group": [GROUP_EXPORT]}
# Operations on the whole server ([base]/$name).
SYSTEM_OPERATIONS = [{"name": "export", "definition": export.SYSTEM_DEFINITION.canonical}]
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
BUILT = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@router.get("/metadata", summary="capabilities")
async def metadata(request: Request) -> Response:
    media = response_media_type(request)
    return json_response(request, _capability_statement(fhir_base(request)), media)


@lru_cache(maxsize=8)
def _capability_statement(base: str) -> bytes:
    resources = [_resource(rtype) for rtype in sorted(supported_types())]
    statement: dict[str, Any] = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": BUILT,
        "publisher": "medrec",
        "kind": "instance",
        "software": {"name": "medrec", "version": __version__},
        "implementation": {"description": "medrec FHIR R4 server", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "application/json"],
        "patchFormat": [JSON_PATCH, "application/fhir+json", "application/merge-patch+json"],
        "rest": [
            {
                "mode": "server",
                "resource": resources,
                "interaction": [{"code": code} for code in SYSTEM_INTERACTIONS],
                "operation": SYSTEM_OPERATIONS,
                "security": _security(base),
            }
        ],
    }
    return orjson.dumps(statement)


def _security(base: str) -> dict[str, Any]:
    """SMART on FHIR, with the oauth-uris extension (how the Python ``fhirclient`` finds the
    authorization server; others read ``.well-known/smart-configuration``)."""
    root = base[: -len(FHIR_PATH)] if base.endswith(FHIR_PATH) else base
    endpoints = ("authorize", "token", "introspect", "revoke")
    return {
        "cors": True,
        "service": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "SMART-on-FHIR",
                    }
                ],
                "text": "OAuth2 using SMART App Launch 2.x",
            }
        ],
        "extension": [
            {
                "url": OAUTH_URIS,
                "extension": [
                    {"url": name, "valueUri": f"{root}/auth/{name}"} for name in endpoints
                ],
            }
        ],
    }


def _resource(rtype: str) -> dict[str, Any]:
    entry = {
        "type": rtype,
        "profile": f"http://hl7.org/fhir/StructureDefinition/{rtype}",
        "interaction": [{"code": code} for code in TYPE_INTERACTIONS],
        "searchParam": [
            {"name": param.code, "definition": param.url, "type": param.type}
            for param in sorted(search_params(rtype).values(), key=lambda p: p.code)
        ],
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": True,
        "conditionalCreate": True,
        "conditionalRead": "full-support",
        "conditionalUpdate": True,
        "conditionalDelete": "single",
    }
    entry["operation"] = [
        *capability_operations().get(rtype, []),
        *CORE_OPERATIONS.get(rtype, []),
        VALIDATE,
    ]
    return entry
