"""Reading a ``Binary`` (FHIR R4 http.html#binary): asked for in a FHIR format, the resource
with its content in ``data``; otherwise the content itself, with the Binary's contentType.

A Binary's content is its inline ``data`` or, for one stored without (a scan: see
``ingestion.scans.stored``), what the app's ``BinaryContents`` gives back. Such a Binary read as
FHIR gets ``data`` and loses the extension on ``_data`` that named its stored bytes: with the
bytes in hand the pointer means nothing to a client. Searches, history, includes and exports
show it as stored (no ``data``, the extension saying where the bytes are): only a read or
vread of the one Binary decrypts.
"""

from __future__ import annotations

import base64
import binascii

import orjson
from starlette.requests import Request
from starlette.responses import Response

from fhir_server.api.context import services
from fhir_server.api.negotiation import FHIR_JSON, binary_media_type
from fhir_server.api.responses import resource_response, version_headers
from fhir_server.errors import FhirError
from fhir_server.model.json_input import JsonObject
from fhir_server.storage.versions import Version

OCTET_STREAM = "application/octet-stream"
# Served from the API's origin: a Binary of HTML or SVG must not run as this site's page.
_NATIVE_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}


async def binary_response(request: Request, version: Version) -> Response:
    media = binary_media_type(request)
    assert version.body is not None
    resource: JsonObject = orjson.loads(version.body)
    binaries = services(request).binaries
    stored = await binaries.content(resource) if binaries is not None else None
    if media is None:
        content = stored if stored is not None else _inline(resource)
        if content is not None:
            return _native(resource, content, version)
        media = FHIR_JSON  # nothing to give but the resource
    if stored is None:
        return resource_response(request, version, media)
    assert binaries is not None
    resource["data"] = base64.b64encode(stored).decode("ascii")
    _drop_pointer(resource, binaries.pointer)
    return resource_response(request, version, media, orjson.dumps(resource))


def _native(resource: JsonObject, content: bytes | memoryview, version: Version) -> Response:
    content_type = str(resource.get("contentType") or OCTET_STREAM)
    headers = {**version_headers(version), **_NATIVE_HEADERS}
    if content_type == "application/pdf":
        del headers["Content-Security-Policy"]  # a sandboxed page gets no PDF viewer
    return Response(content, media_type=content_type, headers=headers)


def _inline(resource: JsonObject) -> bytes | None:
    data = resource.get("data")
    if not isinstance(data, str):
        return None
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise FhirError("The stored Binary's data is not base64", [], 500, "exception") from None


def _drop_pointer(resource: JsonObject, pointer: str) -> None:
    """``_data`` without the extension naming the stored bytes; gone when nothing is left."""
    element = dict(resource.pop("_data", {}))
    kept = [e for e in element.pop("extension", []) if e.get("url") != pointer]
    if kept:
        element["extension"] = kept
    if element:
        resource["_data"] = element
