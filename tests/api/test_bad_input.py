"""Bad input: the right status, an OperationOutcome that names the problem, nothing stored."""

from __future__ import annotations

import json

import httpx
import orjson
import pytest

from tests.helpers import FHIR_JSON, patient


async def stored_count(client: httpx.AsyncClient) -> int:
    page = (await client.get("_history")).json()
    return len(page.get("entry", []))


def outcome_text(response: httpx.Response) -> str:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    return " ".join(
        issue.get("diagnostics", "") + " " + " ".join(issue.get("expression", []))
        for issue in body["issue"]
    )


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"[1,2]", 400, "JSON object"),
        (b'{"name":[{"family":"x"}]}', 400, "no resourceType"),
        (b'{"resourceType":"Observation","status":"final","code":{}}', 400, "does not match"),
        (b'{"resourceType":"Patient","nickname":"Bob"}', 400, "Patient.nickname"),
        (b'{"resourceType":"Patient","gender":["male","female"]}', 400, "Patient.gender"),
        (b'{"resourceType":"Patient","birthDate":"1980-13-45"}', 400, "Patient.birthDate"),
        (b'{"resourceType":"Patient","name":{"family":"x"}}', 400, "Patient.name"),
        (b'{"resourceType":"Patient","$where":"sleep(1000)"}', 400, "$where"),
        (b'{"resourceType":"Patient","name":[{"family":{"$gt":""}}]}', 400, "$gt"),
        (b'{"resourceType":"Patient","a.b":1}', 400, "a.b"),
    ],
)
async def test_bad_create_bodies(
    client: httpx.AsyncClient, body: bytes, status: int, expected: str
) -> None:
    response = await client.post("Patient", content=body, headers={"content-type": FHIR_JSON})
    assert response.status_code == status, response.text
    assert expected in outcome_text(response)
    assert await stored_count(client) == 0


async def test_json_nesting_bomb(client: httpx.AsyncClient) -> None:
    deep = b'{"resourceType":"Patient","extension":' + b"[" * 5000 + b"]" * 5000 + b"}"
    response = await client.post("Patient", content=deep, headers={"content-type": FHIR_JSON})
    assert response.status_code == 400
    outcome_text(response)
    moderately_deep = (
        b'{"resourceType":"Patient","text":' + b'{"div":' * 100 + b'"x"' + b"}" * 100 + b"}"
    )
    response = await client.post(
        "Patient", content=moderately_deep, headers={"content-type": FHIR_JSON}
    )
    assert response.status_code == 400
    assert "nested deeper" in outcome_text(response)
    assert await stored_count(client) == 0


async def test_body_over_limit_is_413(client: httpx.AsyncClient, settings: object) -> None:
    limit = 16 * 1024 * 1024
    huge = orjson.dumps(patient(text={"status": "generated", "div": "x" * (limit + 10)}))
    response = await client.post("Patient", content=huge, headers={"content-type": FHIR_JSON})
    assert response.status_code == 413
    assert "larger than" in outcome_text(response)

    async def chunks():  # no Content-Length: the limit is enforced while reading
        for _ in range(17):
            yield b" " * (1024 * 1024)

    chunked = await client.post("Patient", content=chunks(), headers={"content-type": FHIR_JSON})
    assert chunked.status_code == 413
    assert await stored_count(client) == 0


async def test_put_id_mismatch_and_bad_ids(client: httpx.AsyncClient) -> None:
    mismatch = await client.put("Patient/abc", json=patient(id="xyz"))
    assert mismatch.status_code == 400
    assert "must equal" in outcome_text(mismatch)
    missing = await client.put("Patient/abc", json=patient())
    assert missing.status_code == 400
    bad = await client.put("Patient/bad_id!", json=patient(id="bad_id!"))
    assert bad.status_code == 400
    assert "not a valid FHIR id" in outcome_text(bad)
    too_long = "a" * 65
    assert (await client.get(f"Patient/{too_long}")).status_code in (400, 422)
    assert (await client.get("Patient/abc/_history/x1")).status_code == 400
    assert await stored_count(client) == 0


async def test_media_types(client: httpx.AsyncClient) -> None:
    xml = await client.post(
        "Patient",
        content=b"<Patient xmlns='http://hl7.org/fhir'/>",
        headers={"content-type": "application/fhir+xml"},
    )
    assert xml.status_code == 415
    assert "JSON" in outcome_text(xml) or "Content-Type" in outcome_text(xml)
    form = await client.post(
        "Patient", content=b"a=b", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert form.status_code == 415
    created = await client.post("Patient", json=patient())
    rid = created.json()["id"]
    wants_xml = await client.get(f"Patient/{rid}", headers={"accept": "application/fhir+xml"})
    assert wants_xml.status_code == 406
    assert (await client.get(f"Patient/{rid}", params={"_format": "xml"})).status_code == 406
    assert await stored_count(client) == 1


async def test_operator_smuggling_in_query_strings(client: httpx.AsyncClient) -> None:
    rid = (await client.post("Patient", json=patient())).json()["id"]
    for params in (
        {"_count": '{"$gt":0}'},
        {"_since": '{"$ne":null}'},
        {"_cursor": "eyIkZ3QiOjF9"},
    ):
        response = await client.get("Patient/_history", params=params)
        assert response.status_code == 400, params
        outcome_text(response)
    assert (await client.get(f"Patient/{rid}", params={"$where": "1"})).status_code == 200


async def test_query_string_limit(client: httpx.AsyncClient) -> None:
    response = await client.get("Patient/_history", params={"x": "y" * 20000})
    assert response.status_code == 414
    outcome_text(response)


async def test_patch_bad_documents(client: httpx.AsyncClient) -> None:
    rid = (await client.post("Patient", json=patient())).json()["id"]
    bad_op = await client.patch(
        f"Patient/{rid}",
        content=b'[{"op":"explode","path":"/gender"}]',
        headers={"content-type": "application/json-patch+json"},
    )
    assert bad_op.status_code == 400
    change_id = await client.patch(
        f"Patient/{rid}",
        content=b'[{"op":"replace","path":"/id","value":"other"}]',
        headers={"content-type": "application/json-patch+json"},
    )
    assert change_id.status_code == 400
    smuggle = await client.patch(f"Patient/{rid}", json={"$set": {"gender": "male"}})
    assert smuggle.status_code == 400
    assert (await client.get(f"Patient/{rid}")).json()["meta"]["versionId"] == "1"


async def test_dates_at_the_edge_of_the_calendar(client: httpx.AsyncClient) -> None:
    overflow = await client.get("Patient/_history", params={"_since": "9999-12-31T23:59:59-01:00"})
    assert overflow.status_code == 400
    outcome_text(overflow)
    assert (await client.get("Patient/_history", params={"_since": "9999"})).status_code == 200
    search = await client.get("Patient", params={"birthdate": "ge9999-12-31"})
    assert search.status_code == 200


async def test_a_code_outside_a_required_binding_is_422(client: httpx.AsyncClient) -> None:
    """fhir.resources accepts gender "mail"; the terminology's binding check does not."""
    body = {"resourceType": "Patient", "id": "b1", "gender": "mail"}
    responses = [await client.put("Patient/b1", json=body), await client.post("Patient", json=body)]
    for response in responses:
        assert response.status_code == 422, response.text
        outcome = response.json()
        assert outcome["resourceType"] == "OperationOutcome"
        text = json.dumps(outcome)
        assert "Patient.gender" in text
        assert "http://hl7.org/fhir/ValueSet/administrative-gender" in text
    assert (await client.get("Patient/b1")).status_code == 404  # nothing stored
    body["gender"] = "female"
    assert (await client.put("Patient/b1", json=body)).status_code == 201
