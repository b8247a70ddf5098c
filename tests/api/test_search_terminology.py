"""Token :in, :not-in, :below and :above through the app's terminology service, and quantity
searches next to them."""

from __future__ import annotations

import httpx
import pytest

from tests.api.test_search import put

CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CATEGORIES = "http://hl7.org/fhir/ValueSet/observation-category"


@pytest.fixture
async def conditions(client: httpx.AsyncClient) -> None:
    # condition-clinical: active > {recurrence, relapse}; inactive > {remission, resolved}
    for cid, status in (("c1", "active"), ("c2", "relapse"), ("c3", "resolved"),
                        ("c4", "recurrence")):  # fmt: skip
        await put(client, {
            "resourceType": "Condition", "id": cid, "subject": {"reference": "Patient/p1"},
            "clinicalStatus": {"coding": [{"system": CLINICAL, "code": status}]},
        })  # fmt: skip


@pytest.fixture
async def observations(client: httpx.AsyncClient) -> None:
    for oid, system, code in (("o1", CATEGORY, "laboratory"), ("o2", CATEGORY, "vital-signs"),
                              ("o3", "http://example.org/local", "laboratory")):  # fmt: skip
        await put(client, {
            "resourceType": "Observation", "id": oid, "status": "final", "code": {"text": "x"},
            "category": [{"coding": [{"system": system, "code": code}]}],
        })  # fmt: skip
    await put(client, {"resourceType": "Observation", "id": "o4", "status": "final",
                       "code": {"text": "no category"}})  # fmt: skip


async def found(client: httpx.AsyncClient, url: str, **params: str) -> list[str]:
    response = await client.get(url, params=params)
    assert response.status_code == 200, response.text
    return sorted(entry["resource"]["id"] for entry in response.json().get("entry", []))


@pytest.mark.usefixtures("conditions")
@pytest.mark.parametrize(
    ("modifier", "value", "expected"),
    [
        ("below", f"{CLINICAL}|active", ["c1", "c2", "c4"]),
        ("below", f"{CLINICAL}|relapse", ["c2"]),
        ("above", f"{CLINICAL}|relapse", ["c1", "c2"]),
        ("above", f"{CLINICAL}|resolved", ["c3"]),
    ],
)
async def test_below_and_above(
    client: httpx.AsyncClient, modifier: str, value: str, expected: list[str]
) -> None:
    assert await found(client, "Condition", **{f"clinical-status:{modifier}": value}) == expected


@pytest.mark.usefixtures("observations")
async def test_in_and_not_in(client: httpx.AsyncClient) -> None:
    assert await found(client, "Observation", **{"category:in": CATEGORIES}) == ["o1", "o2"]
    # not in the value set: the local code and the resource without any category
    assert await found(client, "Observation", **{"category:not-in": CATEGORIES}) == ["o3", "o4"]
    both = {"category:in": CATEGORIES, "category": "laboratory"}
    assert await found(client, "Observation", **both) == ["o1"]


@pytest.mark.parametrize(
    "params",
    [
        {"category:in": "http://example.org/ValueSet/unknown"},
        {"category:below": "laboratory"},  # needs system|code
        {"category:above": "http://example.org/unknown-system|x"},
    ],
)
async def test_bad_terminology_values_are_400(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await client.get("Observation", params=params)
    assert response.status_code == 400, response.text
    assert response.json()["resourceType"] == "OperationOutcome"


async def test_a_site_value_set_is_used_at_once(client: httpx.AsyncClient) -> None:
    local = {"system": "http://example.org/local", "code": "A"}
    await put(client, {"resourceType": "Observation", "id": "local", "status": "final",
                       "code": {"coding": [local]}})  # fmt: skip
    value_set = {
        "resourceType": "ValueSet", "id": "mine", "url": "http://example.org/ValueSet/mine",
        "status": "active",
        "compose": {"include": [{"system": local["system"], "concept": [{"code": "A"}]}]},
    }  # fmt: skip
    await put(client, value_set)
    assert await found(client, "Observation", **{"code:in": value_set["url"]}) == ["local"]


async def test_primitive_codes_match_on_the_code(client: httpx.AsyncClient) -> None:
    """Observation.status is a code: stored without a system, it is in the value set when its
    code is."""
    for oid, status in (("s1", "final"), ("s2", "preliminary"), ("s3", "cancelled")):
        await put(client, {"resourceType": "Observation", "id": oid, "status": status,
                           "code": {"text": "x"}})  # fmt: skip
    statuses = "http://hl7.org/fhir/ValueSet/observation-status"
    assert await found(client, "Observation", **{"status:in": statuses}) == ["s1", "s2", "s3"]
    assert await found(client, "Observation", **{"status:not-in": statuses}) == []
    genders = "http://hl7.org/fhir/ValueSet/administrative-gender"
    await put(client, {"resourceType": "Patient", "id": "g1", "gender": "female"})
    await put(client, {"resourceType": "Patient", "id": "g2"})
    assert await found(client, "Patient", **{"gender:in": genders}) == ["g1"]
    assert await found(client, "Patient", **{"gender:not-in": genders}) == ["g2"]
