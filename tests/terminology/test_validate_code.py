"""ValueSet/$validate-code and CodeSystem/$validate-code over HTTP, and bad input."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.terminology.support import (
    GENDER_CS,
    GENDER_VS,
    INTERPRETATION_CS,
    INTERPRETATION_VS,
    LOINC,
    MEDREC,
    out,
    outcome,
    params,
)

OBS_STATUS_VS = "http://hl7.org/fhir/ValueSet/observation-status"
OBS_STATUS_CS = "http://hl7.org/fhir/observation-status"
LAB_CBC = f"{MEDREC}/ValueSet/lab-cbc"


@pytest.mark.parametrize(
    ("query", "result", "message", "display"),
    [
        ({"url": GENDER_VS, "code": "female"}, True, None, "Female"),
        ({"url": GENDER_VS, "code": "mail"}, False, "not in the value set", None),
        ({"url": GENDER_VS, "system": GENDER_CS, "code": "male"}, True, None, "Male"),
        (
            {"url": GENDER_VS, "system": "http://example.org/other", "code": "male"},
            False,
            "not in the value set",
            None,
        ),
        (
            {"url": GENDER_VS, "system": GENDER_CS, "code": "male", "display": "MALE"},
            True,
            None,
            "Male",
        ),
        (
            {"url": GENDER_VS, "system": GENDER_CS, "code": "male", "display": "Man"},
            False,
            "is not a display",
            "Male",
        ),
        ({"url": OBS_STATUS_VS, "system": OBS_STATUS_CS, "code": "final"}, True, None, "Final"),
        ({"url": OBS_STATUS_VS, "system": OBS_STATUS_CS, "code": "done"}, False, "not in", None),
        # a filter-defined value set on the LOINC fragment
        (
            {"url": LAB_CBC, "system": LOINC, "code": "718-7"},
            True,
            None,
            "Hemoglobin [Mass/volume] in Blood",
        ),
        ({"url": LAB_CBC, "system": LOINC, "code": "2345-7"}, False, "not in", None),
        # abstract codes need abstract=true
        (
            {
                "url": INTERPRETATION_VS,
                "system": INTERPRETATION_CS,
                "code": "_ObservationInterpretationNormality",
            },
            False,
            "abstract",
            None,
        ),
        (
            {
                "url": INTERPRETATION_VS,
                "system": INTERPRETATION_CS,
                "code": "_ObservationInterpretationNormality",
                "abstract": "true",
            },
            True,
            None,
            None,
        ),
        # a display in another language is still a display of the code
        (
            {"url": "http://terminology.hl7.org/ValueSet/v2-0078", "code": "H", "display": "Hoog"},
            True,
            None,
            "High",
        ),
        (
            {
                "url": "http://terminology.hl7.org/ValueSet/v2-0078",
                "code": "H",
                "displayLanguage": "nl",
            },
            True,
            None,
            "Hoog",
        ),
    ],
)
async def test_validate_code_in_value_set(
    tx: httpx.AsyncClient,
    query: dict[str, str],
    result: bool,
    message: str | None,
    display: str | None,
) -> None:
    response = await tx.get("ValueSet/$validate-code", params=query)
    assert response.status_code == 200, response.text
    body = response.json()
    assert out(body, "result") == [result]
    if message is None:
        assert out(body, "message") == []
    else:
        assert message in out(body, "message")[0]
    if display is not None:
        assert out(body, "display") == [display]


@pytest.mark.parametrize(
    ("entries", "result"),
    [
        ([("coding", "valueCoding", {"system": GENDER_CS, "code": "other"})], True),
        ([("coding", "valueCoding", {"system": GENDER_CS, "code": "mail"})], False),
        (
            [
                (
                    "codeableConcept",
                    "valueCodeableConcept",
                    {
                        "coding": [
                            {"system": "http://example.org/local", "code": "M"},
                            {"system": GENDER_CS, "code": "male"},
                        ]
                    },
                )
            ],
            True,
        ),
        (
            [
                (
                    "codeableConcept",
                    "valueCodeableConcept",
                    {"coding": [{"system": "http://example.org/local", "code": "M"}]},
                )
            ],
            False,
        ),
    ],
)
async def test_validate_code_post_forms(
    tx: httpx.AsyncClient, entries: list[tuple[str, str, Any]], result: bool
) -> None:
    body = params(("url", "valueUri", GENDER_VS), *entries)
    response = await tx.post("ValueSet/$validate-code", json=body)
    assert response.status_code == 200, response.text
    assert out(response.json(), "result") == [result]


async def test_validate_code_cannot_confirm_codes_of_a_fragment(tx: httpx.AsyncClient) -> None:
    all_of_loinc = {"resourceType": "ValueSet", "compose": {"include": [{"system": LOINC}]}}
    for code, result in (("718-7", True), ("12345-6", False)):
        body = {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "valueSet", "resource": all_of_loinc},
                {"name": "system", "valueUri": LOINC},
                {"name": "code", "valueCode": code},
            ],
        }
        response = await tx.post("ValueSet/$validate-code", json=body)
        assert out(response.json(), "result") == [result]
    assert "holds only a fragment" in out(response.json(), "message")[0]


async def test_validate_code_instance_and_inline(tx: httpx.AsyncClient) -> None:
    response = await tx.get(
        "ValueSet/administrative-gender/$validate-code", params={"code": "unknown"}
    )
    assert out(response.json(), "result") == [True]
    inline = {
        "resourceType": "ValueSet",
        "compose": {"include": [{"system": GENDER_CS, "concept": [{"code": "female"}]}]},
    }
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "valueSet", "resource": inline},
            {"name": "code", "valueCode": "male"},
        ],
    }
    response = await tx.post("ValueSet/$validate-code", json=body)
    assert out(response.json(), "result") == [False]


@pytest.mark.parametrize(
    ("path", "query", "result"),
    [
        ("CodeSystem/$validate-code", {"url": GENDER_CS, "code": "female"}, True),
        (
            "CodeSystem/$validate-code",
            {"url": GENDER_CS, "code": "Female"},
            False,
        ),  # case-sensitive
        ("CodeSystem/$validate-code", {"url": LOINC, "code": "2345-7"}, True),
        ("CodeSystem/$validate-code", {"url": LOINC, "code": "12345-6"}, False),
        (
            "CodeSystem/$validate-code",
            {"url": GENDER_CS, "code": "male", "display": "Female"},
            False,
        ),
        ("CodeSystem/administrative-gender/$validate-code", {"code": "other"}, True),
    ],
)
async def test_validate_code_in_code_system(
    tx: httpx.AsyncClient, path: str, query: dict[str, str], result: bool
) -> None:
    response = await tx.get(path, params=query)
    assert response.status_code == 200, response.text
    assert out(response.json(), "result") == [result]


async def test_validate_code_in_posted_code_system(tx: httpx.AsyncClient) -> None:
    cs = {
        "resourceType": "CodeSystem",
        "url": "http://example.org/cs",
        "content": "complete",
        "concept": [{"code": "x", "display": "X"}],
    }
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "codeSystem", "resource": cs},
            {"name": "coding", "valueCoding": {"system": "http://example.org/cs", "code": "x"}},
        ],
    }
    response = await tx.post("CodeSystem/$validate-code", json=body)
    assert out(response.json(), "result") == [True]


@pytest.mark.parametrize(
    ("method", "path", "query", "body", "status", "text"),
    [
        (
            "GET",
            "ValueSet/$validate-code",
            {"url": "http://example.org/vs", "code": "x"},
            None,
            404,
            "not known",
        ),
        ("GET", "ValueSet/$validate-code", {"code": "x"}, None, 400, "which value set"),
        ("GET", "ValueSet/$validate-code", {"url": GENDER_VS}, None, 400, "exactly one"),
        ("GET", "ValueSet/nope/$validate-code", {"code": "x"}, None, 404, "ValueSet/nope"),
        (
            "GET",
            "CodeSystem/$validate-code",
            {"url": "http://example.org/cs", "code": "x"},
            None,
            404,
            "not known",
        ),
        ("GET", "CodeSystem/$validate-code", {"code": "x"}, None, 400, "which code system"),
        (
            "GET",
            "ValueSet/$validate-code",
            {"url": GENDER_VS, "code": "male", "abstract": "1"},
            None,
            400,
            "true or false",
        ),
        (
            "POST",
            "ValueSet/$validate-code",
            None,
            params(
                ("url", "valueUri", GENDER_VS),
                ("code", "valueCode", "male"),
                ("coding", "valueCoding", {"system": GENDER_CS, "code": "male"}),
            ),
            400,
            "exactly one",
        ),
        (
            "POST",
            "ValueSet/$validate-code",
            None,
            params(
                ("url", "valueUri", GENDER_VS),
                ("codeableConcept", "valueCodeableConcept", {"text": "x"}),
            ),
            400,
            "at least one coding",
        ),
        (
            "POST",
            "ValueSet/$validate-code",
            None,
            params(
                ("url", "valueUri", GENDER_VS), ("coding", "valueCodeableConcept", {"coding": []})
            ),
            400,
            "coding must have exactly one valueCoding",
        ),
        (
            "POST",
            "ValueSet/$validate-code",
            None,
            {
                "resourceType": "Parameters",
                "parameter": [
                    {
                        "name": "valueSet",
                        "resource": {
                            "resourceType": "ValueSet",
                            "compose": {
                                "include": [
                                    {"system": GENDER_CS, "filter": [{"property": "concept"}]}
                                ]
                            },
                        },
                    },
                    {"name": "code", "valueCode": "male"},
                ],
            },
            422,
            "needs a property, an op",
        ),
    ],
)
async def test_validate_code_bad_input(
    tx: httpx.AsyncClient,
    method: str,
    path: str,
    query: dict[str, str] | None,
    body: dict[str, Any] | None,
    status: int,
    text: str,
) -> None:
    response = await tx.request(method, path, params=query, json=body)
    assert response.status_code == status, response.text
    assert text in outcome(response)


async def test_validate_code_refuses_other_media_types(tx: httpx.AsyncClient) -> None:
    response = await tx.post(
        "ValueSet/$validate-code",
        content=b"<Parameters/>",
        headers={"content-type": "application/xml"},
    )
    assert response.status_code == 415
    response = await tx.get(
        "ValueSet/$validate-code", params={"url": GENDER_VS, "code": "male", "_format": "xml"}
    )
    assert response.status_code == 406
    response = await tx.get(
        "ValueSet/$validate-code",
        params={"url": GENDER_VS, "code": "male", "_format": "json", "_pretty": "true"},
    )
    assert response.status_code == 200
    assert b"\n" in response.content
