"""Search and PATCH entries in batch and transaction bundles: the searchset ``GET /Type?search``
answers, searched in the transaction's snapshot; JSON Patch (a Binary) and FHIRPath Patch
(Parameters), If-Match, conditional patch, and rollback."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
from fastapi import FastAPI

from tests.api.test_bundles import MRN, send, transaction
from tests.api.test_search import put
from tests.smart_auth.test_enforce import _as, patient_grant


def patient(rid: str, value: str, **fields: object) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": rid,
            "identifier": [{"system": MRN, "value": value}], **fields}  # fmt: skip


def get(url: str) -> dict[str, Any]:
    return {"request": {"method": "GET", "url": url}}


def json_patch(url: str, operations: list[dict[str, Any]], **request: str) -> dict[str, Any]:
    data = base64.b64encode(json.dumps(operations).encode()).decode()
    binary = {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": data}
    return {"resource": binary, "request": {"method": "PATCH", "url": url, **request}}


def fhirpath_patch(url: str, path: str, value: dict[str, Any]) -> dict[str, Any]:
    operation = [{"name": "type", "valueCode": "replace"},
                 {"name": "path", "valueString": path}, {"name": "value", **value}]  # fmt: skip
    parameters = {"resourceType": "Parameters",
                  "parameter": [{"name": "operation", "part": operation}]}  # fmt: skip
    return {"resource": parameters, "request": {"method": "PATCH", "url": url}}


async def test_search_entries_in_a_batch(client: httpx.AsyncClient) -> None:
    for n in range(3):
        await put(client, patient(f"bs{n}", "BS", gender="female"))
    search = f"Patient?identifier={MRN}|BS&_count=2&_sort=_id&_total=accurate"
    answer = await send(client, transaction(
        get(search), get("Patient?birthdate=not-a-date"), get("Patient/bs1"),
        kind="batch",
    ))  # fmt: skip
    found, bad, read = answer["entry"]
    assert found["response"]["status"] == "200 OK"
    bundle = found["resource"]
    assert bundle["type"] == "searchset" and bundle["total"] == 3
    assert [e["resource"]["id"] for e in bundle["entry"]] == ["bs0", "bs1"]
    links = {link["relation"]: link["url"] for link in bundle["link"]}
    # the same searchset GET /Patient?... answers, its next page served over REST
    direct = (await client.get(search)).json()
    assert [link["relation"] for link in direct["link"]] == list(links)
    assert links["self"] == next(lk["url"] for lk in direct["link"] if lk["relation"] == "self")
    rest = (await client.get(links["next"])).json()
    assert [e["resource"]["id"] for e in rest["entry"]] == ["bs2"]
    assert bad["response"]["status"].startswith("400")
    assert bad["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert "entry[1]" in json.dumps(bad["response"]["outcome"])
    assert read["response"]["status"] == "200 OK"


async def test_type_alone_and_summary_count(client: httpx.AsyncClient) -> None:
    await put(client, patient("tc1", "TC"))
    answer = await send(client, transaction(
        get("Patient"), get(f"Patient?identifier={MRN}|TC&_summary=count"), kind="batch"
    ))  # fmt: skip
    every, counted = (e["resource"] for e in answer["entry"])
    assert every["type"] == "searchset" and any(
        e["resource"]["id"] == "tc1" for e in every["entry"]
    )
    assert counted["total"] == 1 and counted["entry"] == []


async def test_a_transaction_searches_its_own_writes(client: httpx.AsyncClient) -> None:
    new = {"resourceType": "Patient", "identifier": [{"system": MRN, "value": "TX1"}]}
    answer = await send(client, transaction(
        get(f"Patient?identifier={MRN}|TX1&_total=accurate"),  # listed first, run last
        {"fullUrl": "urn:uuid:p", "resource": new,
         "request": {"method": "POST", "url": "Patient"}},
    ))  # fmt: skip
    searched, created = answer["entry"]
    assert created["response"]["status"] == "201 Created"
    bundle = searched["resource"]
    assert bundle["total"] == 1
    assert bundle["entry"][0]["resource"]["id"] == created["response"]["location"].split("/")[1]


async def test_patch_entries(client: httpx.AsyncClient) -> None:
    await put(client, patient("pa1", "PA1", active=True))
    await put(client, patient("pa2", "PA2", gender="male"))
    answer = await send(client, transaction(
        json_patch("Patient/pa1", [{"op": "replace", "path": "/active", "value": False}],
                   ifMatch='W/"1"'),
        fhirpath_patch("Patient/pa2", "Patient.gender", {"valueCode": "female"}),
    ))  # fmt: skip
    assert [e["response"]["status"] for e in answer["entry"]] == ["200 OK", "200 OK"]
    assert answer["entry"][0]["response"]["etag"] == 'W/"2"'
    assert (await client.get("Patient/pa1")).json()["active"] is False
    assert (await client.get("Patient/pa2")).json()["gender"] == "female"


async def test_a_failing_patch_rolls_the_transaction_back(client: httpx.AsyncClient) -> None:
    await put(client, patient("pr1", "PR1", active=True))
    await put(client, patient("pr2", "PR2", active=True))
    off = [{"op": "replace", "path": "/active", "value": False}]
    answer = await send(client, transaction(
        json_patch("Patient/pr1", off),
        json_patch("Patient/pr2", off, ifMatch='W/"7"'),  # stale
    ), 412)  # fmt: skip
    assert "entry[1]" in json.dumps(answer)
    assert (await client.get("Patient/pr1")).json()["active"] is True  # rolled back
    # in a batch only the stale entry fails
    answer = await send(client, transaction(
        json_patch("Patient/pr1", off), json_patch("Patient/pr2", off, ifMatch='W/"7"'),
        kind="batch",
    ))  # fmt: skip
    statuses = [e["response"]["status"] for e in answer["entry"]]
    assert statuses == ["200 OK", "412 Precondition Failed"]


async def test_conditional_patch_entries(client: httpx.AsyncClient) -> None:
    await put(client, patient("cp1", "CP1", active=True))
    await put(client, patient("cp2", "CP2"))
    await put(client, patient("cp3", "CP2"))
    off = [{"op": "replace", "path": "/active", "value": False}]
    answer = await send(client, transaction(
        json_patch(f"Patient?identifier={MRN}|CP1", off),
        json_patch(f"Patient?identifier={MRN}|nobody", off),
        json_patch(f"Patient?identifier={MRN}|CP2", off),
        kind="batch",
    ))  # fmt: skip
    statuses = [e["response"]["status"][:3] for e in answer["entry"]]
    assert statuses == ["200", "404", "412"]
    assert answer["entry"][0]["response"]["location"].startswith("Patient/cp1/_history/2")
    assert (await client.get("Patient/cp1")).json()["active"] is False


async def test_bad_patch_entries(client: httpx.AsyncClient) -> None:
    await put(client, patient("bp1", "BP1"))
    not_base64 = {"resource": {"resourceType": "Binary", "data": "%%%",
                               "contentType": "application/json-patch+json"},
                  "request": {"method": "PATCH", "url": "Patient/bp1"}}  # fmt: skip
    wrong_kind = {"resource": {"resourceType": "Patient"},
                  "request": {"method": "PATCH", "url": "Patient/bp1"}}  # fmt: skip
    answer = await send(client, transaction(not_base64, wrong_kind, kind="batch"))
    assert [e["response"]["status"][:3] for e in answer["entry"]] == ["400", "400"]
    no_body = {"request": {"method": "PATCH", "url": "Patient/bp1"}}
    await send(client, transaction(no_body), 400)


async def test_entries_stay_within_the_token(app: FastAPI, client: httpx.AsyncClient) -> None:
    await put(client, patient("ea", "EA"))
    await put(client, patient("eb", "EB"))
    for rid, subject in (("oa", "ea"), ("ob", "eb")):
        reference = {"reference": f"Patient/{subject}"}
        observation = {"resourceType": "Observation", "id": rid, "status": "final",
                       "code": {"text": "x"}, "subject": reference}  # fmt: skip
        await put(client, observation)
    off = [{"op": "replace", "path": "/status", "value": "amended"}]
    async with _as(app, patient_grant("ea")) as http:
        response = await http.post("", json=transaction(
            get("Observation"), get("Observation?subject=Patient/eb&_total=accurate"),
            json_patch("Observation/ob", off), kind="batch",
        ))  # fmt: skip
    assert response.status_code == 200, response.text
    mine, theirs, patched = response.json()["entry"]
    assert [e["resource"]["id"] for e in mine["resource"]["entry"]] == ["oa"]
    assert theirs["resource"]["total"] == 0
    assert patched["response"]["status"].startswith("404")
