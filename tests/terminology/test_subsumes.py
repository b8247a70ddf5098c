"""CodeSystem/$subsumes over HTTP: every outcome, codings, instance level, bad input."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.terminology.support import GENDER_CS, INTERPRETATION_CS, LOINC, out, outcome, params

NORMALITY = "_ObservationInterpretationNormality"


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("H", "H", "equivalent"),
        (NORMALITY, "HH", "subsumes"),
        ("A", "H", "subsumes"),
        ("HU", "H", "subsumed-by"),
        ("H", "L", "not-subsumed"),
        ("HH", "LL", "not-subsumed"),
    ],
)
async def test_subsumes_outcomes(tx: httpx.AsyncClient, a: str, b: str, expected: str) -> None:
    response = await tx.get(
        "CodeSystem/$subsumes", params={"system": INTERPRETATION_CS, "codeA": a, "codeB": b}
    )
    assert response.status_code == 200, response.text
    assert out(response.json(), "outcome") == [expected]


async def test_subsumes_with_codings_and_instance(tx: httpx.AsyncClient) -> None:
    body = params(
        ("codingA", "valueCoding", {"system": INTERPRETATION_CS, "code": "A"}),
        ("codingB", "valueCoding", {"system": INTERPRETATION_CS, "code": "LL"}),
    )
    response = await tx.post("CodeSystem/$subsumes", json=body)
    assert out(response.json(), "outcome") == ["subsumes"]
    response = await tx.get(
        "CodeSystem/v3-ObservationInterpretation/$subsumes", params={"codeA": "LL", "codeB": "L"}
    )
    assert out(response.json(), "outcome") == ["subsumed-by"]


@pytest.mark.parametrize(
    ("method", "query", "body", "status", "text"),
    [
        (
            "GET",
            {"system": "http://example.org/cs", "codeA": "a", "codeB": "b"},
            None,
            404,
            "not known",
        ),
        (
            "GET",
            {"system": INTERPRETATION_CS, "codeA": "H", "codeB": "nope"},
            None,
            404,
            "code B 'nope'",
        ),
        ("GET", {"system": LOINC, "codeA": "718-7", "codeB": "12345-6"}, None, 404, "code B"),
        ("GET", {"codeA": "H", "codeB": "L"}, None, 400, "system of the codes"),
        ("GET", {"system": INTERPRETATION_CS, "codeA": "H"}, None, 400, "codeB or codingB"),
        (
            "POST",
            None,
            params(
                ("codeA", "valueCode", "H"),
                ("codingA", "valueCoding", {"system": INTERPRETATION_CS, "code": "H"}),
                ("codeB", "valueCode", "L"),
                ("system", "valueUri", INTERPRETATION_CS),
            ),
            400,
            "exactly one of codeA",
        ),
        (
            "POST",
            None,
            params(
                ("codingA", "valueCoding", {"system": INTERPRETATION_CS, "code": "H"}),
                ("codingB", "valueCoding", {"system": GENDER_CS, "code": "male"}),
            ),
            422,
            "one code system",
        ),
    ],
)
async def test_subsumes_bad_input(
    tx: httpx.AsyncClient,
    method: str,
    query: dict[str, str] | None,
    body: dict[str, Any] | None,
    status: int,
    text: str,
) -> None:
    response = await tx.request(method, "CodeSystem/$subsumes", params=query, json=body)
    assert response.status_code == status, response.text
    assert text in outcome(response)
