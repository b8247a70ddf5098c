"""PATCH bodies: JSON Patch (RFC 6902), FHIRPath Patch (a Parameters resource) and JSON Merge
Patch (RFC 7396, what fhirpy sends as plain application/json); in a bundle, a Parameters
resource or a Binary holding one of the others."""

from __future__ import annotations

import base64
import binascii
import copy
from collections.abc import Callable
from typing import Any

import jsonpatch

from fhir_server.api.negotiation import FHIR_JSON, JSON_PATCH, MERGE_PATCH, PLAIN_JSON
from fhir_server.errors import Invalid, Unprocessable
from fhir_server.model.fhirpath_patch import apply_fhirpath_patch
from fhir_server.model.json_input import parse_json

PATCH_MEDIA_TYPES = (JSON_PATCH, FHIR_JSON, PLAIN_JSON, MERGE_PATCH)
JsonObject = dict[str, Any]
Patcher = Callable[[JsonObject], JsonObject]


def patcher(media_type: str, document: Any) -> Patcher:
    """The function that applies this patch document to a resource."""
    if media_type == JSON_PATCH or (media_type != MERGE_PATCH and isinstance(document, list)):
        return _json_patch(document)
    if not isinstance(document, dict):
        raise Invalid("A patch body must be a JSON Patch array, a Parameters resource or an object")
    if document.get("resourceType") == "Parameters" and media_type != MERGE_PATCH:
        return lambda resource: apply_fhirpath_patch(resource, document)
    if media_type == FHIR_JSON:
        raise Invalid(
            "application/fhir+json patches must be FHIRPath Patch Parameters resources; use "
            "application/json-patch+json for JSON Patch"
        )
    return lambda resource: _merge(resource, document)


def entry_patcher(resource: JsonObject | None) -> Patcher:
    """The patch of a bundle's PATCH entry: a Parameters resource (FHIRPath Patch) or a Binary
    whose ``data`` is the patch document, of its ``contentType``."""
    kind = resource.get("resourceType") if resource is not None else None
    if resource is None or kind not in ("Parameters", "Binary"):
        raise Invalid("A PATCH entry's resource must be a Parameters or a Binary resource")
    if kind == "Parameters":
        return patcher(FHIR_JSON, resource)
    media_type = str(resource.get("contentType", "")).split(";")[0].strip().lower()
    if media_type not in PATCH_MEDIA_TYPES:
        raise Invalid(f"A patch Binary's contentType must be one of {', '.join(PATCH_MEDIA_TYPES)}")
    try:
        document = base64.b64decode(str(resource.get("data", "")), validate=True)
    except binascii.Error:
        raise Invalid("A patch Binary's data is not base64") from None
    return patcher(media_type, parse_json(document))


def _json_patch(document: Any) -> Patcher:
    if not isinstance(document, list):
        raise Invalid("A JSON Patch document must be a JSON array of operations")
    try:
        patch = jsonpatch.JsonPatch(document)
    except (jsonpatch.InvalidJsonPatch, TypeError) as exc:
        raise Invalid(f"Invalid JSON Patch: {exc}") from None

    def apply(resource: JsonObject) -> JsonObject:
        try:
            result: JsonObject = patch.apply(resource)
        except jsonpatch.JsonPatchTestFailed as exc:
            raise Unprocessable(f"JSON Patch test failed: {exc}") from None
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise Unprocessable(f"JSON Patch could not be applied: {exc}") from None
        return result

    return apply


def _merge(target: Any, patch: Any) -> Any:
    """RFC 7396: objects merge key by key, null removes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value)
    return result
