"""Content negotiation, _format, _pretty and base URLs with or without a trailing slash."""

from __future__ import annotations

import httpx

from tests.helpers import FHIR_JSON, patient


async def test_json_flavours(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "Patient",
        json=patient(),
        headers={"content-type": "application/json", "accept": "application/json"},
    )
    assert created.status_code == 201
    assert created.headers["content-type"].startswith("application/json")
    rid = created.json()["id"]
    fhir = await client.get(f"Patient/{rid}", headers={"accept": FHIR_JSON})
    assert fhir.headers["content-type"].startswith(FHIR_JSON)
    anything = await client.get(f"Patient/{rid}", headers={"accept": "*/*"})
    assert anything.headers["content-type"].startswith(FHIR_JSON)
    fmt = await client.get(f"Patient/{rid}", params={"_format": "json"})
    assert fmt.status_code == 200
    fmt2 = await client.get(f"Patient/{rid}", params={"_format": "application/json"})
    assert fmt2.headers["content-type"].startswith("application/json")


async def test_pretty(client: httpx.AsyncClient) -> None:
    rid = (await client.post("Patient", json=patient())).json()["id"]
    compact = await client.get(f"Patient/{rid}")
    pretty = await client.get(f"Patient/{rid}", params={"_pretty": "true"})
    assert b"\n" not in compact.content
    assert b'\n  "id"' in pretty.content
    assert pretty.json() == compact.json()


async def test_trailing_and_double_slashes(client: httpx.AsyncClient) -> None:
    rid = (await client.post("Patient/", json=patient())).json()["id"]
    assert (await client.get(f"Patient/{rid}/")).status_code == 200
    assert (await client.get(f"http://testserver/fhir//Patient/{rid}")).status_code == 200
    assert (await client.get("http://testserver/fhir/metadata/")).status_code == 200


async def test_unrouted_requests_get_operation_outcomes(client: httpx.AsyncClient) -> None:
    response = await client.get("Patient/a/b/c/d/e")
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"
    response = await client.post("Patient/abc", json=patient())
    assert response.status_code == 405
    assert response.json()["resourceType"] == "OperationOutcome"
