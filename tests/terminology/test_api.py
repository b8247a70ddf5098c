"""The router as a whole: every operation at every level, its declaration, OpenAPI."""

from __future__ import annotations

import httpx
import pytest

from terminology.api import OPERATIONS, capability_operations, operation_definitions
from tests.terminology.support import GENDER_CS, GENDER_VS, terminology_app

# One valid call per operation: (type-level path, query, instance-level path)
CALLS = {
    "CodeSystem/$lookup": (
        {"system": GENDER_CS, "code": "male"},
        "CodeSystem/administrative-gender/$lookup",
        {"code": "male"},
    ),
    "CodeSystem/$subsumes": (
        {"system": GENDER_CS, "codeA": "male", "codeB": "male"},
        "CodeSystem/administrative-gender/$subsumes",
        {"codeA": "male", "codeB": "female"},
    ),
    "CodeSystem/$validate-code": (
        {"url": GENDER_CS, "code": "male"},
        "CodeSystem/administrative-gender/$validate-code",
        {"code": "x"},
    ),
    "ValueSet/$expand": ({"url": GENDER_VS}, "ValueSet/administrative-gender/$expand", {}),
    "ValueSet/$validate-code": (
        {"url": GENDER_VS, "code": "male"},
        "ValueSet/administrative-gender/$validate-code",
        {"code": "male"},
    ),
    "ConceptMap/$translate": (
        {"system": "https://medrec.dev/fhir/CodeSystem/label-colour", "code": "red"},
        "ConceptMap/colour-to-record-category/$translate",
        {"system": "https://medrec.dev/fhir/CodeSystem/label-colour", "code": "red"},
    ),
}


def test_every_operation_has_a_call_here() -> None:
    assert {definition.name for definition, _ in OPERATIONS} == set(CALLS)


@pytest.mark.parametrize("name", sorted(CALLS))
async def test_get_and_post_at_both_levels(tx: httpx.AsyncClient, name: str) -> None:
    query, instance_path, instance_query = CALLS[name]
    for path, values in ((name, query), (instance_path, instance_query)):
        got = await tx.get(path, params=values)
        assert got.status_code == 200, (path, got.text)
        body = {
            "resourceType": "Parameters",
            "parameter": [{"name": k, "valueString": v} for k, v in values.items()],
        }
        posted = await tx.post(path, json=body)
        assert posted.status_code == 200, (path, posted.text)
        assert posted.json() == got.json() or name == "ValueSet/$expand"  # expansions differ by id
        assert got.headers["content-type"].startswith("application/fhir+json")


def test_capability_entries_and_definitions() -> None:
    entries = capability_operations()
    assert {op["name"] for op in entries["CodeSystem"]} == {"lookup", "subsumes", "validate-code"}
    assert {op["name"] for op in entries["ValueSet"]} == {"expand", "validate-code"}
    assert entries["ConceptMap"] == [
        {
            "name": "translate",
            "definition": "http://hl7.org/fhir/OperationDefinition/ConceptMap-translate",
        }
    ]
    for definition in operation_definitions():
        assert definition["resourceType"] == "OperationDefinition"
        assert definition["type"] and definition["instance"] and not definition["system"]
        uses = {p["use"] for p in definition["parameter"]}
        assert uses == {"in", "out"}


def test_openapi_lists_the_operations() -> None:
    schema = terminology_app().openapi()
    assert "/fhir/ValueSet/$expand" in schema["paths"]
    assert "/fhir/CodeSystem/{rid}/$lookup" in schema["paths"]
    assert set(schema["paths"]["/fhir/ConceptMap/$translate"]) == {"get", "post"}
