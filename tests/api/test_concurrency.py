"""Optimistic concurrency: no lost updates."""

from __future__ import annotations

import asyncio

import httpx

from tests.helpers import patient


async def test_32_concurrent_puts_with_same_if_match_exactly_one_wins(
    client: httpx.AsyncClient,
) -> None:
    created = (await client.post("Patient", json=patient())).json()
    rid = created["id"]

    async def put(n: int) -> httpx.Response:
        body = {**created, "name": [{"family": f"Writer{n}"}]}
        return await client.put(f"Patient/{rid}", json=body, headers={"If-Match": 'W/"1"'})

    responses = await asyncio.gather(*(put(n) for n in range(32)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 1, statuses
    assert statuses.count(412) == 31, statuses
    winner = next(r for r in responses if r.status_code == 200).json()
    current = (await client.get(f"Patient/{rid}")).json()
    assert current["meta"]["versionId"] == "2"
    assert current["name"] == winner["name"]
    history = (await client.get(f"Patient/{rid}/_history")).json()
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]


async def test_concurrent_puts_without_if_match_lose_nothing(client: httpx.AsyncClient) -> None:
    created = (await client.post("Patient", json=patient())).json()
    rid = created["id"]

    async def put(n: int) -> httpx.Response:
        body = {**created, "name": [{"family": f"Writer{n}"}]}
        return await client.put(f"Patient/{rid}", json=body)

    responses = await asyncio.gather(*(put(n) for n in range(16)))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    versions = sorted(int(r.json()["meta"]["versionId"]) for r in responses)
    assert versions == list(range(2, 18))  # every write became its own version
    history = (await client.get(f"Patient/{rid}/_history", params={"_count": 100})).json()
    families = {
        e["resource"]["name"][0]["family"] for e in history["entry"] if e["resource"].get("name")
    }
    assert {f"Writer{n}" for n in range(16)} <= families
