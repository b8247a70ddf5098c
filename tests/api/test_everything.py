"""``Patient/{id}/$everything``: the patient's compartment across types, paged, narrowed by
``_since`` and ``_type``."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.api.test_search import put
from tests.helpers import follow_pages

MINE = [
    "Patient/ann",
    "Condition/c1",
    "Encounter/e1",
    "Encounter/e2",
    "Observation/o1",
    "Observation/o2",
    "Observation/o3",
]


def observation(oid: str, subject: str) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": oid, "status": "final",
            "code": {"text": "x"}, "subject": {"reference": f"Patient/{subject}"}}  # fmt: skip


@pytest.fixture
async def record(client: httpx.AsyncClient) -> None:
    for pid in ("ann", "bob"):
        await put(client, {"resourceType": "Patient", "id": pid})
    for oid in ("o1", "o2", "o3"):
        await put(client, observation(oid, "ann"))
    await put(client, observation("o4", "bob"))
    for eid in ("e1", "e2"):
        await put(client, {"resourceType": "Encounter", "id": eid, "status": "finished",
                           "class": {"code": "AMB"},
                           "subject": {"reference": "Patient/ann"}})  # fmt: skip
    await put(client, {"resourceType": "Condition", "id": "c1",
                       "subject": {"reference": "Patient/ann"}})  # fmt: skip
    await put(client, {"resourceType": "Organization", "id": "org1", "name": "not in it"})


async def walk(client: httpx.AsyncClient, url: str, **params: str) -> list[str]:
    return await follow_pages(client, url, **params)


@pytest.mark.usefixtures("record")
@pytest.mark.parametrize("count", ["100", "1", "2", "3", "7"])
async def test_the_compartment_type_by_type_without_gaps_or_duplicates(
    client: httpx.AsyncClient, count: str
) -> None:
    assert await walk(client, "Patient/ann/$everything", _count=count) == MINE


@pytest.mark.usefixtures("record")
async def test_pages_are_count_sized(client: httpx.AsyncClient) -> None:
    bundle = (await client.get("Patient/ann/$everything", params={"_count": "3"})).json()
    assert len(bundle["entry"]) == 3
    assert any(link["relation"] == "next" for link in bundle["link"])


@pytest.mark.usefixtures("record")
async def test_post_without_a_body(client: httpx.AsyncClient) -> None:
    response = await client.post("Patient/bob/$everything")
    assert response.status_code == 200, response.text
    found = [e["resource"]["id"] for e in response.json()["entry"]]
    assert found == ["bob", "o4"]


@pytest.mark.usefixtures("record")
async def test_type_narrows_and_keeps_paging(client: httpx.AsyncClient) -> None:
    found = await walk(client, "Patient/ann/$everything", _type="Observation,Patient", _count="2")
    assert found == ["Patient/ann", "Observation/o1", "Observation/o2", "Observation/o3"]
    assert await walk(client, "Patient/ann/$everything", _type="Organization") == []


@pytest.mark.usefixtures("record")
async def test_since_keeps_what_changed(client: httpx.AsyncClient) -> None:
    await asyncio.sleep(0.01)
    changed = (await client.get("Observation/o2")).json()
    changed["status"] = "amended"
    await put(client, changed)
    since = (await client.get("Observation/o2")).json()["meta"]["lastUpdated"]
    await put(client, observation("o5", "ann"))
    found = await walk(client, "Patient/ann/$everything", _since=since, _count="1")
    assert found == ["Observation/o2", "Observation/o5"]


@pytest.mark.usefixtures("record")
async def test_deleted_resources_are_left_out(client: httpx.AsyncClient) -> None:
    assert (await client.delete("Observation/o1")).status_code == 204
    found = await walk(client, "Patient/ann/$everything")
    assert found == [r for r in MINE if r != "Observation/o1"]


@pytest.mark.usefixtures("record")
async def test_unknown_and_deleted_patients(client: httpx.AsyncClient) -> None:
    assert (await client.get("Patient/nobody/$everything")).status_code == 404
    assert (await client.delete("Patient/bob")).status_code == 204
    assert (await client.get("Patient/bob/$everything")).status_code == 410


@pytest.mark.usefixtures("record")
@pytest.mark.parametrize(
    "params",
    [{"_type": "Nonsense"}, {"_since": "yesterday"}, {"_cursor": "WzksMF0"}, {"_count": "x"}],
)
async def test_bad_parameters_are_400(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    response = await client.get("Patient/ann/$everything", params=params)
    assert response.status_code == 400, response.text
    assert response.json()["resourceType"] == "OperationOutcome"


async def test_listed_in_the_capability_statement(client: httpx.AsyncClient) -> None:
    statement = (await client.get("metadata")).json()
    patient = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    assert "everything" in {op["name"] for op in patient["operation"]}
