"""CodeSystem/$lookup over HTTP: type and instance level, GET and POST, and bad input."""

from __future__ import annotations

import httpx
import pytest

from tests.terminology.support import GENDER_CS, INTERPRETATION_CS, LOINC, out, outcome, params

V2_0078 = "http://terminology.hl7.org/CodeSystem/v2-0078"


@pytest.mark.parametrize(
    ("query", "display"),
    [
        ({"system": LOINC, "code": "718-7"}, "Hemoglobin [Mass/volume] in Blood"),
        ({"system": GENDER_CS, "code": "female"}, "Female"),
        ({"system": INTERPRETATION_CS, "code": "HH"}, "Critical high"),
        ({"system": V2_0078, "code": "H", "displayLanguage": "nl"}, "Hoog"),
        ({"system": V2_0078, "code": "H", "displayLanguage": "xx"}, "High"),
        ({"system": LOINC, "code": "2345-7"}, "Glucose [Mass/volume] in Serum or Plasma"),
    ],
)
async def test_lookup_display(tx: httpx.AsyncClient, query: dict[str, str], display: str) -> None:
    response = await tx.get("CodeSystem/$lookup", params=query)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["resourceType"] == "Parameters"
    assert out(body, "display") == [display]
    assert out(body, "name")


async def test_lookup_returns_designations_and_properties(tx: httpx.AsyncClient) -> None:
    response = await tx.get("CodeSystem/$lookup", params={"system": LOINC, "code": "718-7"})
    body = response.json()
    values = {d["value"] for d in out(body, "designation")}
    assert {"Hemoglobin", "HGB", "Hb", "Hemoglobine"} <= values
    properties = {(p["code"], p["value"]) for p in out(body, "property")}
    assert ("unit", "g/dL") in properties
    assert ("panel", "cbc") in properties
    assert ("plausible-high", 25) in properties


async def test_lookup_property_selection(tx: httpx.AsyncClient) -> None:
    response = await tx.get(
        "CodeSystem/$lookup", params={"system": LOINC, "code": "718-7", "property": "unit"}
    )
    body = response.json()
    assert {p["code"] for p in out(body, "property")} == {"unit"}
    assert out(body, "designation") == []


async def test_lookup_reports_the_hierarchy(tx: httpx.AsyncClient) -> None:
    response = await tx.get("CodeSystem/$lookup", params={"system": INTERPRETATION_CS, "code": "H"})
    properties = out(response.json(), "property")
    assert {"code": "parent", "value": "A"} in properties
    assert {"code": "child", "value": "HU"} in properties


async def test_lookup_post_with_coding(tx: httpx.AsyncClient) -> None:
    body = params(("coding", "valueCoding", {"system": GENDER_CS, "code": "other"}))
    response = await tx.post("CodeSystem/$lookup", json=body)
    assert response.status_code == 200, response.text
    assert out(response.json(), "display") == ["Other"]


async def test_lookup_instance_level(tx: httpx.AsyncClient) -> None:
    response = await tx.get("CodeSystem/loinc-subset/$lookup", params={"code": "2160-0"})
    assert response.status_code == 200, response.text
    assert out(response.json(), "display") == ["Creatinine [Mass/volume] in Serum or Plasma"]
    response = await tx.post(
        "CodeSystem/administrative-gender/$lookup", json=params(("code", "valueCode", "male"))
    )
    assert out(response.json(), "display") == ["Male"]


@pytest.mark.parametrize(
    ("method", "path", "request_params", "body", "status", "text"),
    [
        (
            "GET",
            "CodeSystem/$lookup",
            {"system": "http://example.org/nope", "code": "x"},
            None,
            404,
            "not known",
        ),
        (
            "GET",
            "CodeSystem/$lookup",
            {"system": GENDER_CS, "code": "mail"},
            None,
            404,
            "'mail' is not in the code system",
        ),
        (
            "GET",
            "CodeSystem/$lookup",
            {"system": LOINC, "code": "99999-9"},
            None,
            404,
            "only a fragment",
        ),
        ("GET", "CodeSystem/$lookup", {"code": "male"}, None, 400, "system of the code"),
        ("GET", "CodeSystem/$lookup", {"system": GENDER_CS}, None, 400, "code"),
        (
            "GET",
            "CodeSystem/$lookup",
            {"system": GENDER_CS, "code": "male", "codde": "x"},
            None,
            400,
            "unknown parameter 'codde'",
        ),
        ("GET", "CodeSystem/$lookup", {"system": GENDER_CS, "code": ""}, None, 400, "non-empty"),
        (
            "GET",
            "CodeSystem/$lookup",
            [("system", GENDER_CS), ("system", GENDER_CS), ("code", "male")],
            None,
            400,
            "only once",
        ),
        ("GET", "CodeSystem/$lookup", {"coding": f"{GENDER_CS}|male"}, None, 400, "POST"),
        ("GET", "CodeSystem/nope/$lookup", {"code": "male"}, None, 404, "CodeSystem/nope"),
        ("GET", "CodeSystem/bad id!/$lookup", {"code": "male"}, None, 400, "not a valid FHIR id"),
        (
            "GET",
            "CodeSystem/administrative-gender/$lookup",
            {"system": LOINC, "code": "male"},
            None,
            400,
            "not the url",
        ),
        ("POST", "CodeSystem/$lookup", None, {"resourceType": "Patient"}, 400, "Parameters"),
        (
            "POST",
            "CodeSystem/$lookup",
            None,
            {"resourceType": "Parameters", "parameter": {}},
            400,
            "must be a list",
        ),
        (
            "POST",
            "CodeSystem/$lookup",
            None,
            {"resourceType": "Parameters", "parameter": [{}]},
            400,
            "needs a name",
        ),
        (
            "POST",
            "CodeSystem/$lookup",
            None,
            params(("system", "valueUri", GENDER_CS), ("code", "valueBoolean", True)),
            400,
            "code must have exactly one",
        ),
        (
            "POST",
            "CodeSystem/$lookup",
            None,
            params(("coding", "valueCoding", {"system": GENDER_CS})),
            400,
            "Coding with a code",
        ),
        (
            "POST",
            "CodeSystem/$lookup",
            None,
            params(
                ("system", "valueUri", GENDER_CS),
                ("code", "valueCode", "male"),
                ("coding", "valueCoding", {"system": GENDER_CS, "code": "male"}),
            ),
            400,
            "not both",
        ),
    ],
)
async def test_lookup_bad_input(
    tx: httpx.AsyncClient,
    method: str,
    path: str,
    request_params: object,
    body: object,
    status: int,
    text: str,
) -> None:
    response = await tx.request(method, path, params=request_params, json=body)  # type: ignore[arg-type]
    assert response.status_code == status, response.text
    assert text in outcome(response)


async def test_lookup_post_rejects_bad_json(tx: httpx.AsyncClient) -> None:
    response = await tx.post(
        "CodeSystem/$lookup",
        content=b"{not json",
        headers={"content-type": "application/fhir+json"},
    )
    assert response.status_code == 400
    assert "not valid JSON" in outcome(response)
