"""System-level search: ``GET /?_type=...`` over several types, with the parameters they
share, paged type by type."""

from __future__ import annotations

import httpx
import pytest

from tests.api.test_search import put
from tests.helpers import follow_pages


@pytest.fixture
async def mixed(client: httpx.AsyncClient) -> None:
    for pid in ("p1", "p2", "p3"):
        await put(client, {"resourceType": "Patient", "id": pid})
    for oid in ("o1", "o2"):
        await put(client, {"resourceType": "Observation", "id": oid, "status": "final",
                           "code": {"text": "x"}})  # fmt: skip
    await put(client, {"resourceType": "Organization", "id": "org1", "name": "ABC"})


async def walk(client: httpx.AsyncClient, **params: str) -> list[str]:
    return await follow_pages(client, "", **params)


@pytest.mark.usefixtures("mixed")
@pytest.mark.parametrize("count", ["50", "2", "1", "3"])
async def test_types_in_order_and_paged(client: httpx.AsyncClient, count: str) -> None:
    found = await walk(client, _type="Patient,Observation", _count=count)
    assert found == ["Patient/p1", "Patient/p2", "Patient/p3", "Observation/o1", "Observation/o2"]


@pytest.mark.usefixtures("mixed")
async def test_shared_parameters_and_total(client: httpx.AsyncClient) -> None:
    found = await walk(client, _type="Observation,Patient", _id="o2,p3")
    assert found == ["Observation/o2", "Patient/p3"]
    bundle = (await client.get("", params={"_id": "org1", "_total": "accurate"})).json()
    assert bundle["total"] == 1
    assert [e["resource"]["id"] for e in bundle["entry"]] == ["org1"]


@pytest.mark.parametrize(
    "params",
    [
        {"_type": "Patient,Nonsense"},
        {"_type": "Patient", "_include": "Patient:organization"},
        {"_type": "Patient", "_cursor": "WzksMF0"},
    ],
)
async def test_bad_system_search_is_400(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    response = await client.get("", params=params)
    assert response.status_code == 400, response.text
    assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.usefixtures("mixed")
async def test_type_specific_parameters_are_unknown_here(client: httpx.AsyncClient) -> None:
    strict = {"Prefer": "handling=strict"}
    params = {"_type": "Patient,Organization", "family": "x"}
    response = await client.get("", params=params, headers=strict)
    assert response.status_code == 400
    lenient = await walk(client, **params)  # family: not an Organization parameter, ignored
    assert lenient == ["Patient/p1", "Patient/p2", "Patient/p3", "Organization/org1"]
    # one type: all its parameters apply
    assert await walk(client, _type="Organization", name="abc") == ["Organization/org1"]
