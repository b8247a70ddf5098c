"""The RESTful interactions over HTTP against the real app and database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import orjson
import pytest
from fastapi import FastAPI

from tests.helpers import FHIR_JSON, patient


async def create(client: httpx.AsyncClient, body: dict[str, object]) -> httpx.Response:
    response = await client.post(str(body["resourceType"]), json=body)
    assert response.status_code == 201, response.text
    return response


async def test_create_assigns_id_version_and_headers(client: httpx.AsyncClient) -> None:
    response = await client.post("Patient", json=patient(id="client-chosen"))
    assert response.status_code == 201
    body = response.json()
    assert body["id"] != "client-chosen"  # create ignores a client id
    assert body["meta"]["versionId"] == "1"
    assert body["meta"]["lastUpdated"].endswith("Z")
    assert response.headers["etag"] == 'W/"1"'
    assert response.headers["location"] == f"http://testserver/fhir/Patient/{body['id']}/_history/1"
    assert response.headers["last-modified"].endswith("GMT")
    assert response.headers["content-type"].startswith(FHIR_JSON)
    # Content is kept as sent, in order, plus meta.
    assert list(body)[:3] == ["resourceType", "id", "meta"]
    assert body["name"] == [{"family": "Doe", "given": ["Jane"]}]


async def test_read_returns_exactly_what_was_stored(client: httpx.AsyncClient) -> None:
    created = (await create(client, patient())).json()
    response = await client.get(f"Patient/{created['id']}")
    assert response.status_code == 200
    assert response.json() == created
    assert response.headers["etag"] == 'W/"1"'


async def test_decimal_precision_survives_round_trip(client: httpx.AsyncClient) -> None:
    raw = (
        b'{"resourceType":"Observation","status":"final","code":{"text":"HbA1c"},'
        b'"valueQuantity":{"value":72.50,"unit":"kg"},"referenceRange":[{"low":{"value":1.0e1}}]}'
    )
    response = await client.post("Observation", content=raw, headers={"content-type": FHIR_JSON})
    assert response.status_code == 201, response.text
    assert b'"value":72.50' in response.content
    read = await client.get(f"Observation/{response.json()['id']}")
    assert b'"value":72.50' in read.content
    # Exponent forms come back as plain decimals with the same value.
    assert b'"low":{"value":10}' in read.content


@pytest.mark.parametrize(
    ("value", "exact_copy"), [(b"72.5", False), (b"0.25", False), (b"72.50", True), (b"1e2", True)]
)
async def test_an_exact_copy_is_kept_only_when_floats_lose_digits(
    client: httpx.AsyncClient, app: FastAPI, value: bytes, exact_copy: bool
) -> None:
    body = b'{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":'
    body += b'{"value":' + value + b"}}"
    response = await client.post("Observation", content=body, headers={"content-type": FHIR_JSON})
    assert response.status_code == 201, response.text
    rid = response.json()["id"]
    stored = await app.state.services.repository.collections.db["Observation"].find_one(
        {"_id": rid}
    )
    assert ("raw" in stored) is exact_copy
    read = await client.get(f"Observation/{rid}")
    printed = value if value != b"1e2" else b"1E+2"  # the same decimal, as Python writes it
    assert b'"value":' + printed + b"}" in read.content
    assert read.content == response.content


async def test_update_creates_new_version_and_vread_keeps_old(client: httpx.AsyncClient) -> None:
    created = (await create(client, patient())).json()
    rid = created["id"]
    changed = {**created, "gender": "other"}
    response = await client.put(f"Patient/{rid}", json=changed)
    assert response.status_code == 200
    assert response.json()["meta"]["versionId"] == "2"
    assert response.headers["etag"] == 'W/"2"'
    assert (await client.get(f"Patient/{rid}/_history/1")).json()["gender"] == "female"
    assert (await client.get(f"Patient/{rid}/_history/2")).json()["gender"] == "other"
    assert (await client.get(f"Patient/{rid}/_history/3")).status_code == 404


async def test_update_as_create_with_client_id(client: httpx.AsyncClient) -> None:
    response = await client.put("Patient/mrn-123", json=patient(id="mrn-123"))
    assert response.status_code == 201
    assert response.headers["location"].endswith("/Patient/mrn-123/_history/1")
    again = await client.put("Patient/mrn-123", json=patient(id="mrn-123", gender="male"))
    assert again.status_code == 200
    assert again.json()["meta"]["versionId"] == "2"


async def test_if_match_stale_version_is_412(client: httpx.AsyncClient) -> None:
    created = (await create(client, patient())).json()
    rid = created["id"]
    ok = await client.put(f"Patient/{rid}", json=created, headers={"If-Match": 'W/"1"'})
    assert ok.status_code == 200
    stale = await client.put(f"Patient/{rid}", json=created, headers={"If-Match": 'W/"1"'})
    assert stale.status_code == 412
    assert stale.json()["resourceType"] == "OperationOutcome"
    # fhirpy sends the bare version id
    bare = await client.put(f"Patient/{rid}", json=created, headers={"If-Match": "2"})
    assert bare.status_code == 200


async def test_conditional_read_not_modified(client: httpx.AsyncClient) -> None:
    created = await create(client, patient())
    rid = created.json()["id"]
    etag = created.headers["etag"]
    assert (await client.get(f"Patient/{rid}", headers={"If-None-Match": etag})).status_code == 304
    assert (
        await client.get(f"Patient/{rid}", headers={"If-None-Match": 'W/"9"'})
    ).status_code == 200
    later = format_datetime(datetime.now(UTC) + timedelta(minutes=1), usegmt=True)
    earlier = format_datetime(datetime.now(UTC) - timedelta(days=1), usegmt=True)
    assert (
        await client.get(f"Patient/{rid}", headers={"If-Modified-Since": later})
    ).status_code == 304
    assert (
        await client.get(f"Patient/{rid}", headers={"If-Modified-Since": earlier})
    ).status_code == 200


async def test_prefer_return(client: httpx.AsyncClient) -> None:
    minimal = await client.post("Patient", json=patient(), headers={"Prefer": "return=minimal"})
    assert minimal.status_code == 201
    assert minimal.content == b""
    assert minimal.headers["location"]
    outcome = await client.post(
        "Patient", json=patient(), headers={"Prefer": "return=OperationOutcome"}
    )
    assert outcome.status_code == 201
    assert outcome.json()["resourceType"] == "OperationOutcome"
    assert outcome.json()["issue"][0]["severity"] == "information"


async def test_delete_then_read_is_gone_and_history_keeps_versions(
    client: httpx.AsyncClient,
) -> None:
    created = (await create(client, patient())).json()
    rid = created["id"]
    deleted = await client.delete(f"Patient/{rid}")
    assert deleted.status_code == 204
    assert deleted.headers["etag"] == 'W/"2"'
    gone = await client.get(f"Patient/{rid}")
    assert gone.status_code == 410
    assert gone.json()["issue"][0]["code"] == "deleted"
    # Deleting again is idempotent; a resource that never existed is 404.
    assert (await client.delete(f"Patient/{rid}")).status_code == 204
    assert (await client.delete("Patient/never-was")).status_code == 404
    history = (await client.get(f"Patient/{rid}/_history")).json()
    assert [e["request"]["method"] for e in history["entry"]] == ["DELETE", "POST"]
    assert (await client.get(f"Patient/{rid}/_history/1")).status_code == 200
    assert (await client.get(f"Patient/{rid}/_history/2")).status_code == 410
    # Update after delete brings it back as a new version.
    revived = await client.put(f"Patient/{rid}", json=created)
    assert revived.status_code == 201
    assert revived.json()["meta"]["versionId"] == "3"


async def test_json_patch(client: httpx.AsyncClient) -> None:
    rid = (await create(client, patient())).json()["id"]
    ops = [
        {"op": "test", "path": "/gender", "value": "female"},
        {"op": "replace", "path": "/gender", "value": "male"},
        {"op": "add", "path": "/name/0/given/-", "value": "Q"},
    ]
    response = await client.patch(
        f"Patient/{rid}",
        content=orjson.dumps(ops),
        headers={"content-type": "application/json-patch+json"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["gender"] == "male"
    assert body["name"][0]["given"] == ["Jane", "Q"]
    assert body["meta"]["versionId"] == "2"
    failed = await client.patch(
        f"Patient/{rid}",
        content=orjson.dumps([{"op": "test", "path": "/gender", "value": "female"}]),
        headers={"content-type": "application/json-patch+json"},
    )
    assert failed.status_code == 422
    invalid = await client.patch(
        f"Patient/{rid}",
        content=orjson.dumps([{"op": "add", "path": "/birthDate", "value": "not-a-date"}]),
        headers={"content-type": "application/json-patch+json"},
    )
    assert invalid.status_code == 400  # the patched resource must still be valid
    assert (await client.get(f"Patient/{rid}")).json()["meta"]["versionId"] == "2"
    history = (await client.get(f"Patient/{rid}/_history")).json()
    assert [e["request"]["method"] for e in history["entry"]] == ["PATCH", "POST"]


async def test_fhirpath_patch(client: httpx.AsyncClient) -> None:
    rid = (await create(client, patient())).json()["id"]
    parameters = {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "operation",
                "part": [
                    {"name": "type", "valueCode": "replace"},
                    {"name": "path", "valueString": "Patient.birthDate"},
                    {"name": "value", "valueDate": "1971-05-06"},
                ],
            }
        ],
    }
    response = await client.patch(
        f"Patient/{rid}", json=parameters, headers={"content-type": FHIR_JSON}
    )
    assert response.status_code == 200, response.text
    assert response.json()["birthDate"] == "1971-05-06"


async def test_merge_patch_as_sent_by_fhirpy(client: httpx.AsyncClient) -> None:
    rid = (await create(client, patient(active=True))).json()["id"]
    response = await client.patch(f"Patient/{rid}", json={"gender": "unknown", "active": None})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["gender"] == "unknown"
    assert "active" not in body


async def test_patch_with_stale_if_match_is_412(client: httpx.AsyncClient) -> None:
    created = (await create(client, patient())).json()
    await client.put(f"Patient/{created['id']}", json=created)
    response = await client.patch(
        f"Patient/{created['id']}", json={"gender": "male"}, headers={"If-Match": 'W/"1"'}
    )
    assert response.status_code == 412


async def test_history_levels_and_paging(client: httpx.AsyncClient) -> None:
    ids = [(await create(client, patient())).json()["id"] for _ in range(3)]
    created = (await client.get(f"Patient/{ids[0]}")).json()
    for _ in range(2):
        created = (await client.put(f"Patient/{ids[0]}", json=created)).json()
    obs = await create(
        client, {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    )
    instance = (await client.get(f"Patient/{ids[0]}/_history")).json()
    assert instance["type"] == "history"
    assert [e["resource"]["meta"]["versionId"] for e in instance["entry"]] == ["3", "2", "1"]
    assert [e["request"]["method"] for e in instance["entry"]] == ["PUT", "PUT", "POST"]

    type_level = (await client.get("Patient/_history")).json()
    assert len(type_level["entry"]) == 5
    system = (await client.get("_history")).json()
    assert len(system["entry"]) == 6
    assert system["entry"][0]["fullUrl"].endswith(f"Observation/{obs.json()['id']}")

    # Keyset paging: pages of 2 cover everything once, in order, even with writes in between.
    seen: list[tuple[str, str]] = []
    url: str | None = "Patient/_history?_count=2"
    pages = 0
    while url:
        page = (await client.get(url)).json()
        seen += [(e["resource"]["id"], e["resource"]["meta"]["versionId"]) for e in page["entry"]]
        nxt = [link["url"] for link in page["link"] if link["relation"] == "next"]
        url = nxt[0] if nxt else None
        if pages == 0:
            await create(client, patient())  # newer than the cursor: must not shift the pages
        pages += 1
    assert len(seen) == 5 and len(set(seen)) == 5
    assert pages == 3


async def test_history_since_and_at(client: httpx.AsyncClient) -> None:
    created = (await create(client, patient())).json()
    rid = created["id"]
    v1_time = created["meta"]["lastUpdated"]
    await asyncio.sleep(0.01)
    v2 = (await client.put(f"Patient/{rid}", json=created)).json()
    since = (
        await client.get(f"Patient/{rid}/_history", params={"_since": v2["meta"]["lastUpdated"]})
    ).json()
    assert [e["resource"]["meta"]["versionId"] for e in since["entry"]] == ["2"]
    at = (await client.get("Patient/_history", params={"_at": v1_time})).json()
    assert [e["resource"]["meta"]["versionId"] for e in at["entry"]] == ["1"]
    bad = await client.get("Patient/_history", params={"_since": "yesterday"})
    assert bad.status_code == 400
    assert (await client.get("Patient/nope/_history")).status_code == 404


async def test_unknown_type_and_id(client: httpx.AsyncClient) -> None:
    assert (await client.get("Patient/does-not-exist")).status_code == 404
    unknown = await client.get("Spaceship/1")
    assert unknown.status_code == 404
    assert unknown.json()["resourceType"] == "OperationOutcome"
    unsupported = await client.post("MedicinalProduct", json={"resourceType": "MedicinalProduct"})
    assert unsupported.status_code == 404
