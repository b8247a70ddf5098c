"""Conditional update (``PUT /Type?search``), patch (``PATCH /Type?search``) and delete
(``DELETE /Type?search``) over REST."""

from __future__ import annotations

import httpx

from tests.api.test_search import put

MRN = "urn:oid:1.2.3.4"


def patient(value: str, **fields: object) -> dict[str, object]:
    return {"resourceType": "Patient", "identifier": [{"system": MRN, "value": value}], **fields}


async def test_conditional_update(client: httpx.AsyncClient) -> None:
    url = f"Patient?identifier={MRN}|U1"
    created = await client.put(url, json=patient("U1", active=True))
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    updated = await client.put(url, json=patient("U1", active=False))
    assert updated.status_code == 200, updated.text
    assert updated.headers["location"].rsplit("/", 1)[0] == location.rsplit("/", 1)[0]
    assert updated.json()["active"] is False and updated.json()["meta"]["versionId"] == "2"
    # no match, the body has an id: an update as create with that id
    with_id = await client.put(f"Patient?identifier={MRN}|U2", json=patient("U2", id="u-two"))
    assert with_id.status_code == 201 and with_id.json()["id"] == "u-two"
    # the body's id is not the match's
    wrong = await client.put(url, json=patient("U1", id="someone-else"))
    assert wrong.status_code == 400, wrong.text
    # two matches
    await put(client, {**patient("U1"), "id": "twin"})
    several = await client.put(url, json=patient("U1"))
    assert several.status_code == 412, several.text
    assert (await client.put("Patient", json=patient("U3"))).status_code == 400  # no search


async def test_conditional_delete(client: httpx.AsyncClient) -> None:
    await put(client, {**patient("D1"), "id": "d1"})
    gone = await client.delete(f"Patient?identifier={MRN}|D1")
    assert gone.status_code == 204, gone.text
    assert (await client.get("Patient/d1")).status_code == 410
    nothing = await client.delete(f"Patient?identifier={MRN}|nobody")
    assert nothing.status_code == 204
    await put(client, {**patient("D2"), "id": "a"})
    await put(client, {**patient("D2"), "id": "b"})
    several = await client.delete(f"Patient?identifier={MRN}|D2")
    assert several.status_code == 412, several.text
    assert (await client.get("Patient/a")).status_code == 200  # nothing deleted
    assert (await client.delete("Patient")).status_code == 400


async def test_conditional_patch(client: httpx.AsyncClient) -> None:
    await put(client, {**patient("P1", active=True), "id": "p1"})
    off = [{"op": "replace", "path": "/active", "value": False}]
    patch_type = {"content-type": "application/json-patch+json"}
    url = f"Patient?identifier={MRN}|P1"
    patched = await client.patch(url, json=off, headers=patch_type)
    assert patched.status_code == 200, patched.text
    assert patched.json()["active"] is False and patched.json()["meta"]["versionId"] == "2"
    stale = await client.patch(url, json=off, headers={**patch_type, "if-match": 'W/"1"'})
    assert stale.status_code == 412, stale.text
    merge = await client.patch(
        url, json={"gender": "other"}, headers={"content-type": "application/merge-patch+json"}
    )
    assert merge.status_code == 200 and merge.json()["gender"] == "other"
    nothing = await client.patch(f"Patient?identifier={MRN}|nobody", json=off, headers=patch_type)
    assert nothing.status_code == 404, nothing.text
    await put(client, {**patient("P2"), "id": "p2a"})
    await put(client, {**patient("P2"), "id": "p2b"})
    several = await client.patch(f"Patient?identifier={MRN}|P2", json=off, headers=patch_type)
    assert several.status_code == 412, several.text
    assert (await client.patch("Patient", json=off, headers=patch_type)).status_code == 400
