"""The CapabilityStatement lists exactly what works."""

from __future__ import annotations

import httpx

from fhir_server.model.resource_types import UNSUPPORTED, r4_resource_types, supported_types
from tests.helpers import patient


async def test_metadata_lists_supported_types_and_nothing_else(client: httpx.AsyncClient) -> None:
    response = await client.get("metadata")
    assert response.status_code == 200
    statement = response.json()
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"
    rest = statement["rest"][0]
    listed = {r["type"] for r in rest["resource"]}
    assert listed == set(supported_types())
    assert len(listed) == len(r4_resource_types()) - len(UNSUPPORTED)
    assert not listed & set(UNSUPPORTED)
    assert {i["code"] for i in rest["interaction"]} == {"history-system"}
    for resource in rest["resource"]:
        assert "search-type" not in {i["code"] for i in resource["interaction"]}
        assert resource.get("searchParam") is None


async def test_every_listed_interaction_works(client: httpx.AsyncClient) -> None:
    statement = (await client.get("metadata")).json()
    patient_caps = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    codes = {i["code"] for i in patient_caps["interaction"]}
    created = await client.post("Patient", json=patient())
    rid = created.json()["id"]
    checks = {
        "create": created.status_code == 201,
        "read": (await client.get(f"Patient/{rid}")).status_code == 200,
        "vread": (await client.get(f"Patient/{rid}/_history/1")).status_code == 200,
        "update": (await client.put(f"Patient/{rid}", json={**created.json()})).status_code == 200,
        "patch": (await client.patch(f"Patient/{rid}", json={"gender": "male"})).status_code == 200,
        "history-instance": (await client.get(f"Patient/{rid}/_history")).status_code == 200,
        "history-type": (await client.get("Patient/_history")).status_code == 200,
        "delete": (await client.delete(f"Patient/{rid}")).status_code == 204,
    }
    assert set(checks) == codes
    assert all(checks.values()), checks
    assert (await client.get("_history")).status_code == 200
