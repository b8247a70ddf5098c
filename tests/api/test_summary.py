"""``_summary=true|text|data`` and ``_elements`` on search and read: which elements stay,
the SUBSETTED tag, and bad combinations."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

OBSERVATION = {
    "resourceType": "Observation",
    "id": "o1",
    "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">Hb</div>'},
    "status": "final",
    "category": [{"coding": [{"code": "laboratory"}]}],  # not a summary element
    "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
    "subject": {"reference": "Patient/p1"},
    "valueQuantity": {"value": 13.20, "unit": "g/dL"},
    "note": [{"text": "fasting"}],  # not a summary element
}


def _tags(resource: dict[str, Any]) -> list[str]:
    return [tag["code"] for tag in resource.get("meta", {}).get("tag", [])]


@pytest.fixture
async def observation(client: httpx.AsyncClient) -> None:
    body = json.dumps(OBSERVATION).replace('"value": 13.2,', '"value": 13.20,')
    assert "13.20" in body
    response = await client.put(
        "Observation/o1", content=body, headers={"Content-Type": "application/fhir+json"}
    )
    assert response.status_code == 201, response.text


@pytest.mark.usefixtures("observation")
@pytest.mark.parametrize(
    ("mode", "kept"),
    [
        ("true", {"resourceType", "id", "meta", "status", "code", "subject", "valueQuantity"}),
        ("text", {"resourceType", "id", "meta", "text", "status", "code"}),
        ("data", set(OBSERVATION) - {"text"} | {"meta"}),
    ],
)
@pytest.mark.parametrize("how", ["search", "read"])
async def test_summary_modes(
    client: httpx.AsyncClient, mode: str, kept: set[str], how: str
) -> None:
    if how == "search":
        bundle = (await client.get("Observation", params={"_summary": mode})).json()
        resource = bundle["entry"][0]["resource"]
    else:
        response = await client.get("Observation/o1", params={"_summary": mode})
        assert response.status_code == 200, response.text
        resource = response.json()
    assert set(resource) == kept
    assert "SUBSETTED" in _tags(resource)
    if "valueQuantity" in kept:
        assert '"value":13.20' in (await _raw(client, mode, how))  # decimals keep their digits


async def _raw(client: httpx.AsyncClient, mode: str, how: str) -> str:
    url = "Observation" if how == "search" else "Observation/o1"
    return (await client.get(url, params={"_summary": mode})).text


@pytest.mark.usefixtures("observation")
async def test_summary_false_and_no_summary_return_everything(client: httpx.AsyncClient) -> None:
    for params in ({"_summary": "false"}, {}):
        resource = (await client.get("Observation/o1", params=params)).json()
        assert set(OBSERVATION) <= set(resource)
        assert "SUBSETTED" not in _tags(resource)


@pytest.mark.usefixtures("observation")
async def test_elements_on_read(client: httpx.AsyncClient) -> None:
    resource = (await client.get("Observation/o1", params={"_elements": "status,value"})).json()
    assert set(resource) == {"resourceType", "id", "meta", "status", "valueQuantity"}


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("Observation", {"_summary": "maybe"}),
        ("Observation/o1", {"_summary": "maybe"}),
        ("Observation", {"_summary": "true", "_elements": "status"}),
    ],
)
@pytest.mark.usefixtures("observation")
async def test_bad_summary_is_400(
    client: httpx.AsyncClient, url: str, params: dict[str, str]
) -> None:
    response = await client.get(url, params=params)
    assert response.status_code == 400, response.text
    assert response.json()["resourceType"] == "OperationOutcome"
