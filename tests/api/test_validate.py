"""``$validate`` on a type and an instance: the checks of a write, an OperationOutcome back,
nothing stored."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.test_search import put
from tests.helpers import FHIR_JSON, patient

FHIR_JSON_HEADER = {"content-type": FHIR_JSON}


def outcome(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    issues: list[dict[str, Any]] = body["issue"]
    return issues


def errors(response: httpx.Response) -> list[str]:
    return [i["diagnostics"] for i in outcome(response) if i["severity"] == "error"]


async def stored(client: httpx.AsyncClient, rtype: str) -> int:
    response = await client.get(rtype, params={"_summary": "count"})
    assert response.status_code == 200, response.text
    total: int = response.json()["total"]
    return total


async def test_a_valid_resource_is_all_ok_and_not_stored(client: httpx.AsyncClient) -> None:
    issues = outcome(await client.post("Patient/$validate", json=patient()))
    assert issues == [{"severity": "information", "code": "informational",
                       "diagnostics": "All OK"}]  # fmt: skip
    assert await stored(client, "Patient") == 0


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"birthDate": "1980-02-30"}, "birthDate"),
        ({"gender": "robot"}, "administrative-gender"),
        ({"unknownElement": 1}, "Unknown element"),
    ],
)
async def test_an_invalid_resource_gets_its_issues_with_200(
    client: httpx.AsyncClient, fields: dict[str, Any], says: str
) -> None:
    found = errors(await client.post("Patient/$validate", json=patient(**fields)))
    assert found, "expected error issues"
    assert any(says in text for text in found), found
    assert await stored(client, "Patient") == 0


async def test_wrong_type_is_an_error_issue(client: httpx.AsyncClient) -> None:
    found = errors(await client.post("Observation/$validate", json=patient()))
    assert any("does not match" in text for text in found), found


async def test_parameters_form_with_mode(client: httpx.AsyncClient) -> None:
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": patient(id="p1")},
        {"name": "mode", "valueCode": "update"},
    ]}  # fmt: skip
    assert errors(await client.post("Patient/p1/$validate", json=body)) == []
    mismatch = errors(await client.post("Patient/p2/$validate", json=body))
    assert any("must equal the id" in text for text in mismatch), mismatch
    bad = {"resourceType": "Parameters",
           "parameter": [{"name": "resource", "resource": patient(gender="robot")}]}  # fmt: skip
    assert errors(await client.post("Patient/$validate", json=bad))
    assert await stored(client, "Patient") == 0


async def test_mode_create_on_the_type_ignores_the_id(client: httpx.AsyncClient) -> None:
    response = await client.post("Patient/$validate", params={"mode": "create"},
                                 json=patient(id="any"))  # fmt: skip
    assert errors(response) == []


async def test_mode_delete(client: httpx.AsyncClient) -> None:
    await put(client, patient(id="p1"))
    issues = outcome(await client.post("Patient/p1/$validate", params={"mode": "delete"}))
    assert [i["severity"] for i in issues] == ["information"]
    assert (await client.get("Patient/p1")).status_code == 200  # still there
    missing = await client.post("Patient/nobody/$validate", params={"mode": "delete"})
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("url", "kwargs", "status"),
    [
        ("Patient/$validate", {"content": b"{not json", "headers": FHIR_JSON_HEADER}, 400),
        ("Patient/$validate", {"json": [1, 2]}, 400),
        ("Patient/$validate", {}, 400),  # no resource
        ("Patient/$validate", {"json": patient(), "params": {"mode": "sideways"}}, 400),
        ("Patient/$validate", {"params": {"mode": "delete"}}, 400),  # delete needs an instance
        ("Nonsense/$validate", {"json": patient()}, 404),
    ],
)  # fmt: skip
async def test_bad_requests(
    client: httpx.AsyncClient, url: str, kwargs: dict[str, Any], status: int
) -> None:
    response = await client.post(url, **kwargs)
    assert response.status_code == status, response.text
    assert response.json()["resourceType"] == "OperationOutcome"


async def test_listed_in_the_capability_statement(client: httpx.AsyncClient) -> None:
    statement = (await client.get("metadata")).json()
    for resource in statement["rest"][0]["resource"]:
        if resource["type"] in ("Patient", "Observation"):
            assert "validate" in {op["name"] for op in resource["operation"]}
