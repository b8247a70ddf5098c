"""ValueSet/$expand over HTTP: compose rules, text filter, paging, languages, bad input."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from terminology.content import LayeredContent, MemoryContent, bundled_content
from terminology.service import TerminologyService
from tests.terminology.support import (
    GENDER_CS,
    GENDER_VS,
    INTERPRETATION_CS,
    INTERPRETATION_VS,
    LOINC,
    MEDREC,
    outcome,
    params,
    terminology_app,
)

V2_0078 = "http://terminology.hl7.org/CodeSystem/v2-0078"


def codes(body: dict[str, Any]) -> list[str]:
    assert body["resourceType"] == "ValueSet", body
    return [c["code"] for c in body["expansion"]["contains"]]


def inline(*include: dict[str, Any], exclude: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    compose: dict[str, Any] = {"include": list(include)}
    if exclude:
        compose["exclude"] = list(exclude)
    return {"resourceType": "ValueSet", "status": "active", "compose": compose}


async def expand_inline(tx: httpx.AsyncClient, vs: dict[str, Any], *extra: Any) -> httpx.Response:
    return await tx.post(
        "ValueSet/$expand",
        json={
            "resourceType": "Parameters",
            "parameter": [{"name": "valueSet", "resource": vs}, *extra],
        },
    )


@pytest.mark.parametrize(
    ("vs", "expected"),
    [
        # all codes of a system
        (inline({"system": GENDER_CS}), ["male", "female", "other", "unknown"]),
        # a concept list, displays from the list or the code system
        (
            inline({"system": GENDER_CS, "concept": [{"code": "female"}, {"code": "male"}]}),
            ["female", "male"],
        ),
        # exclude
        (
            inline(
                {"system": GENDER_CS},
                exclude=({"system": GENDER_CS, "concept": [{"code": "unknown"}]},),
            ),
            ["male", "female", "other"],
        ),
        # is-a: the code and everything below it
        (
            inline(
                {
                    "system": INTERPRETATION_CS,
                    "filter": [{"property": "concept", "op": "is-a", "value": "H"}],
                }
            ),
            ["H", "HH", "H>", "HU"],
        ),
        # descendent-of: below only
        (
            inline(
                {
                    "system": INTERPRETATION_CS,
                    "filter": [{"property": "concept", "op": "descendent-of", "value": "H"}],
                }
            ),
            ["HH", "H>", "HU"],
        ),
        # = on a property
        (
            inline(
                {"system": LOINC, "filter": [{"property": "panel", "op": "=", "value": "thyroid"}]}
            ),
            ["3016-3", "11580-8", "3024-7", "14920-3", "3026-2", "3051-0", "3053-6", "8099-4"],
        ),
        # two filters are ANDed
        (
            inline(
                {
                    "system": LOINC,
                    "filter": [
                        {"property": "panel", "op": "=", "value": "thyroid"},
                        {"property": "unit", "op": "=", "value": "pmol/L"},
                    ],
                }
            ),
            ["14920-3"],
        ),
        # in / not-in
        (
            inline(
                {
                    "system": GENDER_CS,
                    "filter": [{"property": "concept", "op": "in", "value": "male, other"}],
                }
            ),
            ["male", "other"],
        ),
        (
            inline(
                {
                    "system": GENDER_CS,
                    "filter": [{"property": "concept", "op": "not-in", "value": "male,other"}],
                }
            ),
            ["female", "unknown"],
        ),
        # another value set, intersected with a system part
        (inline({"valueSet": [GENDER_VS]}), ["male", "female", "other", "unknown"]),
        (
            inline(
                {
                    "system": GENDER_CS,
                    "concept": [{"code": "other"}, {"code": "nope"}],
                    "valueSet": [GENDER_VS],
                }
            ),
            ["other"],
        ),
    ],
)
async def test_expand_compose(
    tx: httpx.AsyncClient, vs: dict[str, Any], expected: list[str]
) -> None:
    response = await expand_inline(tx, vs)
    assert response.status_code == 200, response.text
    found = codes(response.json())
    # concept lists keep their order; everything else comes in code system order
    assert (
        found == expected
        if "concept" in vs["compose"]["include"][0]
        else sorted(found) == sorted(expected)
    )
    assert response.json()["expansion"]["total"] == len(expected)


async def test_expand_by_url_and_instance(tx: httpx.AsyncClient) -> None:
    by_url = await tx.get("ValueSet/$expand", params={"url": f"{MEDREC}/ValueSet/record-category"})
    by_id = await tx.get("ValueSet/record-category/$expand")
    assert by_url.status_code == by_id.status_code == 200
    assert codes(by_url.json()) == codes(by_id.json())
    assert "lab-results" in codes(by_id.json())
    assert "compose" not in by_id.json()
    with_definition = await tx.get(
        "ValueSet/record-category/$expand", params={"includeDefinition": "true"}
    )
    assert "compose" in with_definition.json()


async def test_expand_official_value_set_with_abstract_codes(tx: httpx.AsyncClient) -> None:
    response = await tx.get("ValueSet/$expand", params={"url": INTERPRETATION_VS})
    contains = response.json()["expansion"]["contains"]
    by_code = {c["code"]: c for c in contains}
    assert by_code["_ObservationInterpretationNormality"].get("abstract") is True
    assert "abstract" not in by_code["H"]


async def test_expand_text_filter(tx: httpx.AsyncClient) -> None:
    url = f"{MEDREC}/ValueSet/lab-tests"
    response = await tx.get("ValueSet/$expand", params={"url": url, "filter": "hdl chol"})
    found = codes(response.json())
    assert {"2085-9", "14646-4"} <= set(found)
    assert "2093-3" not in found  # total cholesterol has no word starting with "hdl"
    by_abbreviation = await tx.get("ValueSet/$expand", params={"url": url, "filter": "TSH"})
    assert codes(by_abbreviation.json()) == ["3016-3"]
    by_code = await tx.get("ValueSet/$expand", params={"url": url, "filter": "718-7"})
    assert codes(by_code.json()) == ["718-7"]
    nothing = await tx.get("ValueSet/$expand", params={"url": url, "filter": "zzzz"})
    assert nothing.json()["expansion"]["total"] == 0


async def test_expand_paging(tx: httpx.AsyncClient) -> None:
    url = f"{MEDREC}/ValueSet/lab-tests"
    whole = codes((await tx.get("ValueSet/$expand", params={"url": url})).json())
    assert len(whole) >= 150
    pages = []
    for offset in range(0, len(whole), 40):
        response = await tx.get(
            "ValueSet/$expand", params={"url": url, "offset": str(offset), "count": "40"}
        )
        body = response.json()
        assert body["expansion"]["total"] == len(whole)
        assert body["expansion"].get("offset", 0) == offset
        pages.extend(codes(body))
    assert pages == whole
    past_the_end = await tx.get("ValueSet/$expand", params={"url": url, "offset": "9999"})
    assert codes(past_the_end.json()) == []


async def test_expand_display_language(tx: httpx.AsyncClient) -> None:
    vs = inline({"system": V2_0078, "concept": [{"code": "H"}, {"code": "N"}]})
    dutch = await expand_inline(tx, vs, {"name": "displayLanguage", "valueCode": "nl-NL"})
    assert [c["display"] for c in dutch.json()["expansion"]["contains"]] == ["Hoog", "Normaal"]
    default = await expand_inline(tx, vs)
    assert [c["display"] for c in default.json()["expansion"]["contains"]] == ["High", "Normal"]


async def test_expand_designations(tx: httpx.AsyncClient) -> None:
    vs = inline({"system": V2_0078})
    plain = await expand_inline(tx, vs)
    assert all("designation" not in c for c in plain.json()["expansion"]["contains"])
    everything = await expand_inline(tx, vs, {"name": "includeDesignations", "valueBoolean": True})
    by_code = {c["code"]: c for c in everything.json()["expansion"]["contains"]}
    assert {
        "language": "nl",
        "use": {
            "system": "http://terminology.hl7.org/CodeSystem/designation-usage",
            "code": "display",
        },
        "value": "Hoog",
    } in by_code["H"]["designation"]


async def test_expand_active_only() -> None:
    site = MemoryContent(
        [
            {
                "resourceType": "CodeSystem",
                "id": "site",
                "url": "http://example.org/cs",
                "status": "active",
                "content": "complete",
                "concept": [
                    {"code": "a", "display": "A"},
                    {
                        "code": "b",
                        "display": "B",
                        "property": [{"code": "status", "valueCode": "retired"}],
                    },
                ],
            },
            {
                "resourceType": "ValueSet",
                "id": "site",
                "url": "http://example.org/vs",
                "status": "active",
                "compose": {"include": [{"system": "http://example.org/cs"}]},
            },
        ]
    )
    app = terminology_app(TerminologyService(LayeredContent(site, bundled_content())))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t/fhir/"
    ) as http:
        everything = await http.get("ValueSet/site/$expand")
        assert everything.json()["expansion"]["contains"][1] == {
            "system": "http://example.org/cs",
            "inactive": True,
            "code": "b",
            "display": "B",
        }
        active = await http.get(
            "ValueSet/$expand", params={"url": "http://example.org/vs", "activeOnly": "true"}
        )
        assert codes(active.json()) == ["a"]
        # the bundled content is still there behind the site's
        assert (await http.get("ValueSet/record-category/$expand")).status_code == 200


@pytest.mark.parametrize(
    ("request_body", "query", "status", "text"),
    [
        (None, {"url": "http://example.org/ValueSet/nope"}, 404, "not known"),
        (None, {}, 400, "say which value set"),
        (None, {"url": GENDER_VS, "count": "-1"}, 400, "whole number"),
        (None, {"url": GENDER_VS, "count": "100001"}, 400, "at most"),
        (None, {"url": GENDER_VS, "activeOnly": "yes"}, 400, "true or false"),
        # all of LOINC: only a fragment is held
        (
            {
                "resourceType": "Parameters",
                "parameter": [{"name": "valueSet", "resource": inline({"system": LOINC})}],
            },
            None,
            422,
            "fragment",
        ),
        (
            {
                "resourceType": "Parameters",
                "parameter": [
                    {"name": "valueSet", "resource": inline({"system": "http://example.org/cs"})}
                ],
            },
            None,
            422,
            "not known",
        ),
        (
            {
                "resourceType": "Parameters",
                "parameter": [
                    {
                        "name": "valueSet",
                        "resource": inline(
                            {
                                "system": GENDER_CS,
                                "filter": [
                                    {"property": "concept", "op": "regex", "value": "(a+)+$"}
                                ],
                            }
                        ),
                    }
                ],
            },
            None,
            422,
            "not supported",
        ),
        (
            {
                "resourceType": "Parameters",
                "parameter": [{"name": "valueSet", "resource": {"resourceType": "CodeSystem"}}],
            },
            None,
            400,
            "must be a ValueSet",
        ),
        (
            {"resourceType": "Parameters", "parameter": [{"name": "valueSet", "valueString": "x"}]},
            None,
            400,
            "must carry a resource",
        ),
        (
            {
                "resourceType": "Parameters",
                "parameter": [
                    {
                        "name": "valueSet",
                        "resource": inline({"valueSet": ["http://example.org/ValueSet/missing"]}),
                    }
                ],
            },
            None,
            404,
            "not known",
        ),
    ],
)
async def test_expand_bad_input(
    tx: httpx.AsyncClient,
    request_body: dict[str, Any] | None,
    query: dict[str, str] | None,
    status: int,
    text: str,
) -> None:
    if request_body is None:
        response = await tx.get("ValueSet/$expand", params=query)
    else:
        response = await tx.post("ValueSet/$expand", json=request_body)
    assert response.status_code == status, response.text
    assert text in outcome(response)


async def test_expand_instance_unknown(tx: httpx.AsyncClient) -> None:
    response = await tx.post("ValueSet/nope/$expand", json=params())
    assert response.status_code == 404
