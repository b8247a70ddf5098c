"""openapi/openapi.json must be what the code generates (`uv run medrec openapi` refreshes it)."""

from __future__ import annotations

import json
from pathlib import Path

from fhir_server.openapi_doc import openapi_document

COMMITTED = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"


def test_committed_openapi_document_is_current() -> None:
    committed = json.loads(COMMITTED.read_text())
    assert committed == json.loads(json.dumps(openapi_document())), (
        "openapi/openapi.json is stale: run `uv run medrec openapi` and commit the result"
    )


def test_openapi_covers_every_fhir_interaction() -> None:
    paths = openapi_document()["paths"]
    assert set(paths["/fhir/{rtype}/{rid}"]) == {"get", "put", "patch", "delete"}
    assert "post" in paths["/fhir/{rtype}"]
    assert "get" in paths["/fhir/{rtype}/{rid}/_history/{vid}"]
    assert "get" in paths["/fhir/metadata"]
