"""Transaction and batch bundles over HTTP: placeholders, conditional references and creates,
processing order, all-or-nothing (proven by searching afterwards), batch partial failure."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.test_search import put

MRN = "urn:oid:1.2.3.4"


def transaction(*entries: dict[str, Any], kind: str = "transaction") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def post(full_url: str, resource: dict[str, Any], **request: str) -> dict[str, Any]:
    return {"fullUrl": full_url, "resource": resource,
            "request": {"method": "POST", "url": resource["resourceType"], **request}}  # fmt: skip


async def send(client: httpx.AsyncClient, bundle: dict[str, Any], status: int = 200) -> Any:
    response = await client.post("", json=bundle)
    assert response.status_code == status, response.text
    return response.json()


async def ids(client: httpx.AsyncClient, rtype: str, **params: str) -> list[str]:
    response = await client.get(rtype, params=params)
    assert response.status_code == 200, response.text
    return sorted(e["resource"]["id"] for e in response.json().get("entry", []))


def observation(subject: str, code: str = "718-7") -> dict[str, Any]:
    return {
        "resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": subject},
        "extension": [{"url": "http://example.org/about",
                       "valueReference": {"reference": subject}}],
    }  # fmt: skip


async def test_placeholders_are_resolved_everywhere(client: httpx.AsyncClient) -> None:
    patient = {"resourceType": "Patient", "identifier": [{"system": MRN, "value": "A1"}]}
    answer = await send(client, transaction(
        post("urn:uuid:obs-1", observation("urn:uuid:pat-1")),  # refers forward
        post("urn:uuid:pat-1", patient),
    ))  # fmt: skip
    assert answer["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in answer["entry"]]
    assert statuses == ["201 Created", "201 Created"]
    obs_location, pat_location = (e["response"]["location"] for e in answer["entry"])
    assert obs_location.startswith("Observation/") and pat_location.startswith("Patient/")
    assert all(e["response"]["etag"] == 'W/"1"' for e in answer["entry"])
    patient_id = pat_location.split("/")[1]
    stored = (await client.get("/".join(obs_location.split("/")[:2]))).json()
    assert stored["subject"]["reference"] == f"Patient/{patient_id}"
    assert stored["extension"][0]["valueReference"]["reference"] == f"Patient/{patient_id}"
    assert await ids(client, "Observation", subject=f"Patient/{patient_id}") == [stored["id"]]


async def test_an_unknown_placeholder_fails_the_transaction(client: httpx.AsyncClient) -> None:
    bundle = transaction(post("urn:uuid:o", observation("urn:uuid:nobody")))
    answer = await send(client, bundle, 400)
    assert "entry[0]" in answer["issue"][0]["diagnostics"]
    assert await ids(client, "Observation") == []


async def test_conditional_references(client: httpx.AsyncClient) -> None:
    await put(client, {"resourceType": "Patient", "id": "known",
                       "identifier": [{"system": MRN, "value": "K1"}]})  # fmt: skip
    answer = await send(client, transaction(
        post("urn:uuid:o", observation(f"Patient?identifier={MRN}|K1")),
    ))  # fmt: skip
    location = answer["entry"][0]["response"]["location"]
    stored = (await client.get("/".join(location.split("/")[:2]))).json()
    assert stored["subject"]["reference"] == "Patient/known"
    nobody = transaction(post("urn:uuid:o", observation(f"Patient?identifier={MRN}|nope")))
    none = await send(client, nobody, 400)
    assert "entry[0]" in none["issue"][0]["diagnostics"]
    await put(client, {"resourceType": "Patient", "id": "twin",
                       "identifier": [{"system": MRN, "value": "K1"}]})  # fmt: skip
    twice = transaction(post("urn:uuid:o", observation(f"Patient?identifier={MRN}|K1")))
    await send(client, twice, 412)


async def test_a_failing_entry_rolls_everything_back(client: httpx.AsyncClient) -> None:
    await put(client, {"resourceType": "Patient", "id": "keep", "gender": "female"})
    bad = {"resourceType": "Patient", "gender": "mail"}  # outside the required value set
    answer = await send(client, transaction(
        {"request": {"method": "DELETE", "url": "Patient/keep"}},
        post("urn:uuid:p1", {"resourceType": "Patient", "gender": "male"}),
        post("urn:uuid:o1", observation("urn:uuid:p1")),
        post("urn:uuid:p2", bad),
    ), 422)  # fmt: skip
    assert "entry[3]" in answer["issue"][0]["diagnostics"]
    assert await ids(client, "Patient") == ["keep"]  # not deleted, nothing created
    assert await ids(client, "Observation") == []
    assert len((await client.get("Patient/keep/_history")).json()["entry"]) == 1


async def test_a_large_transaction_is_stored_whole_or_not_at_all(
    client: httpx.AsyncClient,
) -> None:
    """Hundreds of creates, one invalid at the end: nothing is left behind; without it, all
    are stored and refer to the bundle's Patient."""
    count = 450
    entries = [post("urn:uuid:pat", {"resourceType": "Patient", "gender": "male"})]
    entries += [post(f"urn:uuid:o{n}", observation("urn:uuid:pat")) for n in range(count)]
    failing = [*entries, post("urn:uuid:bad", {"resourceType": "Patient", "gender": "mail"})]
    answer = await send(client, transaction(*failing), 422)
    assert f"entry[{count + 1}]" in answer["issue"][0]["diagnostics"]
    assert await ids(client, "Patient") == []
    assert (await client.get("Observation", params={"_summary": "count"})).json()["total"] == 0

    answer = await send(client, transaction(*entries))
    locations = [e["response"]["location"].split("/")[1] for e in answer["entry"]]
    assert len(set(locations)) == count + 1
    patient = locations[0]
    total = await client.get("Observation", params={"subject": f"Patient/{patient}",
                                                    "_summary": "count"})  # fmt: skip
    assert total.json()["total"] == count
    last = (await client.get(f"Observation/{locations[-1]}")).json()
    assert last["subject"]["reference"] == f"Patient/{patient}"


async def test_methods_run_in_the_spec_order(client: httpx.AsyncClient) -> None:
    await put(client, {"resourceType": "Patient", "id": "old", "active": True})
    await put(client, {"resourceType": "Patient", "id": "upd", "active": True})
    answer = await send(client, transaction(
        {"request": {"method": "GET", "url": "Patient/upd"}},
        {"resource": {"resourceType": "Patient", "id": "upd", "active": False},
         "request": {"method": "PUT", "url": "Patient/upd"}},
        post("urn:uuid:n", {"resourceType": "Patient", "active": True}),
        {"request": {"method": "DELETE", "url": "Patient/old"}},
    ))  # fmt: skip
    statuses = [e["response"]["status"] for e in answer["entry"]]
    assert statuses == ["200 OK", "200 OK", "201 Created", "204 No Content"]
    # GET runs last: it sees the update of the same transaction
    assert answer["entry"][0]["response"]["etag"] == 'W/"2"'
    assert (await client.get("Patient/old")).status_code == 410


async def test_conditional_create_and_update(client: httpx.AsyncClient) -> None:
    patient = {"resourceType": "Patient", "identifier": [{"system": MRN, "value": "C1"}]}
    entry = post("urn:uuid:p", patient, ifNoneExist=f"identifier={MRN}|C1")
    first = await send(client, transaction(entry))
    second = await send(client, transaction(entry))
    assert first["entry"][0]["response"]["status"] == "201 Created"
    assert second["entry"][0]["response"]["status"] == "200 OK"
    assert len(await ids(client, "Patient", identifier=f"{MRN}|C1")) == 1
    update = {"resource": {**patient, "active": False},
              "request": {"method": "PUT", "url": f"Patient?identifier={MRN}|C1"}}  # fmt: skip
    answer = await send(client, transaction(update))
    assert answer["entry"][0]["response"]["status"] == "200 OK"
    created = first["entry"][0]["response"]["location"]
    assert answer["entry"][0]["response"]["location"] == created.rsplit("/", 1)[0] + "/2"


async def test_batch_entries_stand_alone(client: httpx.AsyncClient) -> None:
    answer = await send(client, transaction(
        post("urn:uuid:a", {"resourceType": "Patient", "gender": "male"}),
        post("urn:uuid:b", {"resourceType": "Patient", "gender": "mail"}),
        {"request": {"method": "GET", "url": "Patient/missing"}},
        kind="batch",
    ))  # fmt: skip
    assert answer["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in answer["entry"]]
    assert statuses == ["201 Created", "422 Unprocessable Entity", "404 Not Found"]
    outcome = answer["entry"][1]["response"]["outcome"]
    assert outcome["resourceType"] == "OperationOutcome"
    assert "entry[1]" in outcome["issue"][0]["diagnostics"]
    assert len(await ids(client, "Patient")) == 1


@pytest.mark.parametrize(
    ("bundle", "status"),
    [
        ({"resourceType": "Patient"}, 400),
        ({"resourceType": "Bundle", "type": "collection", "entry": []}, 400),
        (transaction({"request": {"method": "POST", "url": "Patient"}}), 400),  # no resource
        (
            transaction(
                {
                    "resource": {"resourceType": "Patient"},
                    "request": {"method": "POST", "url": "Observation"},
                }
            ),
            400,
        ),
        (transaction({"request": {"method": "FETCH", "url": "Patient/1"}}), 400),
        (
            transaction(
                {"request": {"method": "DELETE", "url": "Patient/x"}},
                {"request": {"method": "DELETE", "url": "Patient/x"}},
            ),
            400,
        ),
        (transaction({"request": {"method": "DELETE", "url": "Spaceship/1"}}), 400),
        (transaction({"request": {"method": "DELETE", "url": "Patient?$where=1"}}), 400),
    ],
)
async def test_bad_bundles(client: httpx.AsyncClient, bundle: dict[str, Any], status: int) -> None:
    answer = await send(client, bundle, status)
    assert answer["resourceType"] == "OperationOutcome"


async def test_too_many_entries_is_413(client: httpx.AsyncClient, app: Any) -> None:
    limit = app.state.services.settings.max_bundle_entries
    entries = [{"request": {"method": "GET", "url": "Patient/x"}}] * (limit + 1)
    await send(client, transaction(*entries, kind="batch"), 413)


async def test_twenty_concurrent_conditional_creates_make_one(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read-then-write would let several through; the claim written in each creating
    transaction makes all but one conflict, retry and find the winner. The searches are slowed
    down so that the transactions overlap."""
    import asyncio

    from fhir_server.bundles import process

    search = process.matching_ids

    async def slow_search(*args: Any, **kwargs: Any) -> list[str]:
        found = await search(*args, **kwargs)
        await asyncio.sleep(0.05)  # between the search and the create: the race window
        return found

    monkeypatch.setattr(process, "matching_ids", slow_search)

    # telecom has no index: on the embedded database, concurrent writes of one index key
    # conflict by themselves, which would hide a missing claim
    body = {"resourceType": "Patient", "telecom": [{"system": "phone", "value": "555-0199"}]}
    condition = "telecom=phone|555-0199"

    async def rest() -> int:
        response = await client.post("Patient", json=body, headers={"If-None-Exist": condition})
        return response.status_code

    async def bundled() -> int:
        answer = await send(client, transaction(post("urn:uuid:r", body, ifNoneExist=condition)))
        return int(answer["entry"][0]["response"]["status"][:3])

    statuses = await asyncio.gather(*[rest() for _ in range(10)], *[bundled() for _ in range(10)])
    assert sorted(statuses) == [200] * 19 + [201]
    assert len(await ids(client, "Patient", telecom="phone|555-0199")) == 1


async def test_rest_conditional_create(client: httpx.AsyncClient) -> None:
    body = {"resourceType": "Patient", "identifier": [{"system": MRN, "value": "R1"}]}
    headers = {"If-None-Exist": f"identifier={MRN}|R1"}
    first = await client.post("Patient", json=body, headers=headers)
    again = await client.post("Patient", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.headers["location"] == again.headers["location"]
    await put(client, {**body, "id": "other"})  # now two match
    third = await client.post("Patient", json=body, headers=headers)
    assert third.status_code == 412, third.text
    unknown = await client.post("Patient", json=body, headers={"If-None-Exist": "shoe=9"})
    assert unknown.status_code == 400, unknown.text  # an ignored parameter would match all
