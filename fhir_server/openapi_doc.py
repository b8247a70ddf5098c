"""The OpenAPI document of the HTTP API, as committed in openapi/openapi.json."""

from __future__ import annotations

from typing import Any

from fhir_server.app import create_app
from fhir_server.config import Settings


def openapi_document() -> dict[str, Any]:
    # The URI is never dialled: building the schema does not run the lifespan.
    app = create_app(Settings(mongodb_uri="mongodb://unused.invalid"))
    document: dict[str, Any] = app.openapi()
    return document
