"""ConceptMap/$translate over HTTP: the bundled maps, unmapped rules, reverse, bad input."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.terminology.support import CATEGORY_CS, COLOUR_CS, LOINC, MEDREC, out, outcome, params

COLOUR_MAP = f"{MEDREC}/ConceptMap/colour-to-record-category"
DOCUMENT_MAP = f"{MEDREC}/ConceptMap/record-category-to-document-type"
US_CORE = "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category"


@pytest.mark.parametrize(
    ("colour", "category"),
    [
        ("red", "medical-history"),
        ("blue", "prescriptions"),
        ("green", "lab-results"),
        ("yellow", "imaging"),
        ("purple", "consent-administrative"),
    ],
)
async def test_default_colour_code(tx: httpx.AsyncClient, colour: str, category: str) -> None:
    response = await tx.get(
        "ConceptMap/$translate", params={"url": COLOUR_MAP, "system": COLOUR_CS, "code": colour}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert out(body, "result") == [True]
    [match] = out(body, "match")
    assert match["concept"]["system"] == CATEGORY_CS
    assert match["concept"]["code"] == category
    assert match["equivalence"] == "equivalent"
    assert match["source"] == COLOUR_MAP


@pytest.mark.parametrize(
    ("category", "loinc", "us_core"),
    [
        ("medical-history", ["34117-2", "18842-5"], True),
        ("prescriptions", ["57833-6"], True),
        ("lab-results", ["11502-2"], True),
        ("imaging", ["18748-4"], True),
        ("consent-administrative", ["59284-0"], False),
        ("referral", ["57133-1"], True),
    ],
)
async def test_category_to_document_type(
    tx: httpx.AsyncClient, category: str, loinc: list[str], us_core: bool
) -> None:
    response = await tx.get(
        "ConceptMap/record-category-to-document-type/$translate",
        params={"system": CATEGORY_CS, "code": category},
    )
    matches = out(response.json(), "match")
    assert [
        m["concept"]["code"] for m in matches if m.get("concept", {}).get("system") == LOINC
    ] == loinc
    core = [m for m in matches if m.get("concept", {}).get("system") == US_CORE]
    assert bool(core) == us_core
    if not us_core:
        assert {"equivalence": "unmatched", "source": DOCUMENT_MAP} in matches


async def test_target_system_and_type_level(tx: httpx.AsyncClient) -> None:
    # type level: every map whose group maps from the system
    response = await tx.get(
        "ConceptMap/$translate",
        params={"system": CATEGORY_CS, "code": "imaging", "targetsystem": US_CORE},
    )
    matches = out(response.json(), "match")
    assert [m["concept"]["code"] for m in matches] == ["clinical-note"]
    assert matches[0]["equivalence"] == "wider"


async def test_reverse(tx: httpx.AsyncClient) -> None:
    body = params(
        ("url", "valueUri", COLOUR_MAP),
        ("coding", "valueCoding", {"system": CATEGORY_CS, "code": "imaging"}),
        ("reverse", "valueBoolean", True),
    )
    response = await tx.post("ConceptMap/$translate", json=body)
    [match] = out(response.json(), "match")
    assert match["concept"] == {"system": COLOUR_CS, "code": "yellow", "display": "Yellow"}


async def test_no_match_is_an_answer(tx: httpx.AsyncClient) -> None:
    response = await tx.get(
        "ConceptMap/$translate", params={"url": COLOUR_MAP, "system": COLOUR_CS, "code": "orange"}
    )
    assert response.status_code == 200
    assert out(response.json(), "result") == [False]
    assert "No mapping" in out(response.json(), "message")[0]
    response = await tx.get(
        "ConceptMap/$translate", params={"system": "http://example.org/unknown", "code": "x"}
    )
    assert out(response.json(), "result") == [False]


@pytest.mark.parametrize(
    ("unmapped", "code", "expected"),
    [
        ({"mode": "provided"}, "zz", ("equal", "zz")),
        ({"mode": "fixed", "code": "other"}, "zz", ("equivalent", "other")),
        (None, "zz", None),
    ],
)
async def test_unmapped_rules(
    tx: httpx.AsyncClient,
    unmapped: dict[str, str] | None,
    code: str,
    expected: tuple[str, str] | None,
) -> None:
    group: dict[str, Any] = {
        "source": "http://example.org/a",
        "target": "http://example.org/b",
        "element": [{"code": "x", "target": [{"code": "y", "equivalence": "equal"}]}],
    }
    if unmapped:
        group["unmapped"] = unmapped
    cm = {
        "resourceType": "ConceptMap",
        "url": "http://example.org/cm",
        "status": "active",
        "group": [group],
    }
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "conceptMap", "resource": cm},
            {"name": "system", "valueUri": "http://example.org/a"},
            {"name": "code", "valueCode": code},
        ],
    }
    response = await tx.post("ConceptMap/$translate", json=body)
    matches = out(response.json(), "match")
    if expected is None:
        assert matches == []
    else:
        assert (matches[0]["equivalence"], matches[0]["concept"]["code"]) == expected


@pytest.mark.parametrize(
    ("method", "path", "query", "body", "status", "text"),
    [
        (
            "GET",
            "ConceptMap/$translate",
            {"url": "http://example.org/nope", "system": COLOUR_CS, "code": "red"},
            None,
            404,
            "not known",
        ),
        (
            "GET",
            "ConceptMap/nope/$translate",
            {"system": COLOUR_CS, "code": "red"},
            None,
            404,
            "ConceptMap/nope",
        ),
        ("GET", "ConceptMap/$translate", {"code": "red"}, None, 400, "needs its system"),
        ("GET", "ConceptMap/$translate", {"url": COLOUR_MAP}, None, 400, "exactly one"),
        (
            "GET",
            "ConceptMap/$translate",
            {"url": COLOUR_MAP, "system": COLOUR_CS, "code": "red", "reverse": "maybe"},
            None,
            400,
            "true or false",
        ),
        (
            "POST",
            "ConceptMap/$translate",
            None,
            params(("conceptMap", "valueString", "x")),
            400,
            "must carry a resource",
        ),
        (
            "POST",
            "ConceptMap/$translate",
            None,
            {
                "resourceType": "Parameters",
                "parameter": [
                    {"name": "conceptMap", "resource": {"resourceType": "ValueSet"}},
                    {"name": "code", "valueCode": "x"},
                    {"name": "system", "valueUri": "s"},
                ],
            },
            400,
            "must be a ConceptMap",
        ),
    ],
)
async def test_translate_bad_input(
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
