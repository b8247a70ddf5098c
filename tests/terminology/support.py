"""Helpers of the terminology tests."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from fhir_server.api.errors import install_error_handlers
from terminology.api import router
from terminology.service import TerminologyService

LOINC = "http://loinc.org"
MEDREC = "https://medrec.dev/fhir"
GENDER_VS = "http://hl7.org/fhir/ValueSet/administrative-gender"
GENDER_CS = "http://hl7.org/fhir/administrative-gender"
INTERPRETATION_CS = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
INTERPRETATION_VS = "http://hl7.org/fhir/ValueSet/observation-interpretation"
COLOUR_CS = f"{MEDREC}/CodeSystem/label-colour"
CATEGORY_CS = f"{MEDREC}/CodeSystem/record-category"


def terminology_app(service: TerminologyService | None = None) -> FastAPI:
    """The operations' router alone, with the real app's error handlers."""
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    if service is not None:
        app.state.terminology = service
    return app


def params(*entries: tuple[str, str, Any]) -> dict[str, Any]:
    """A Parameters body from (name, value[x] key, value) triples."""
    return {
        "resourceType": "Parameters",
        "parameter": [{"name": name, key: value} for name, key, value in entries],
    }


def out(body: dict[str, Any], name: str) -> list[Any]:
    """The values (or parts) of the output parameters called ``name``."""
    found = []
    for p in body["parameter"]:
        if p["name"] != name:
            continue
        if "part" in p:
            found.append({part["name"]: _value(part) for part in p["part"]})
        else:
            found.append(_value(p))
    return found


def _value(p: dict[str, Any]) -> Any:
    return next(v for k, v in p.items() if k.startswith("value"))


def outcome(response: httpx.Response) -> str:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    return " ".join(issue["diagnostics"] for issue in body["issue"])
