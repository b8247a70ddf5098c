"""The CapabilityStatement lists exactly what works."""

from __future__ import annotations

import httpx
import pytest

from fhir_server.model.resource_types import UNSUPPORTED, r4_resource_types, supported_types
from fhir_server.search.definitions import search_params
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
    assert {i["code"] for i in rest["interaction"]} == {
        "transaction",
        "batch",
        "history-system",
        "search-system",
    }
    for resource in rest["resource"]:
        assert "search-type" in {i["code"] for i in resource["interaction"]}
        listed_params = {p["name"] for p in resource["searchParam"]}
        assert listed_params == set(search_params(resource["type"]))
        assert {"_id", "_lastUpdated"} <= listed_params


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
        "search-type": (await client.get("Patient", params={"gender": "male"})).status_code == 200,
    }
    assert set(checks) == codes
    assert all(checks.values()), checks
    assert (await client.get("_history")).status_code == 200


SAMPLE_VALUES = {
    "string": "a",
    "token": "http://x|a",
    "reference": "Patient/x",
    "date": "ge2020-01",
    "number": "gt1",
    "quantity": "lt1.5||mg",
    "uri": "http://example.org/x",
}


@pytest.mark.slow
async def test_every_listed_search_parameter_answers(client: httpx.AsyncClient) -> None:
    statement = (await client.get("metadata")).json()
    failures = []
    tried = 0
    for resource in statement["rest"][0]["resource"]:
        for param in resource["searchParam"]:
            queries = [{f"{param['name']}:missing": "false"}]
            if param["type"] in SAMPLE_VALUES:
                queries.append({param["name"]: SAMPLE_VALUES[param["type"]]})
            for query in queries:
                tried += 1
                response = await client.get(resource["type"], params=query)
                if response.status_code != 200:
                    failures.append((resource["type"], query, response.status_code))
    assert tried > 4000
    assert not failures, failures[:20]


async def test_operations_are_declared_per_type(client: httpx.AsyncClient) -> None:
    statement = (await client.get("metadata")).json()
    operations = {
        r["type"]: {op["name"] for op in r.get("operation", [])}
        for r in statement["rest"][0]["resource"]
    }
    assert all("validate" in names for names in operations.values())
    assert {"everything", "labels", "validate"} <= operations["Patient"]
    assert {"lookup", "subsumes", "validate-code", "validate"} <= operations["CodeSystem"]
    assert {"expand", "validate-code", "validate"} <= operations["ValueSet"]


async def test_security_names_smart_and_the_oauth_endpoints(client: httpx.AsyncClient) -> None:
    """What the Python fhirclient reads to find the authorization server."""
    security = (await client.get("metadata")).json()["rest"][0]["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    (uris,) = [
        e
        for e in security["extension"]
        if e["url"] == "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
    ]
    endpoints = {e["url"]: e["valueUri"] for e in uris["extension"]}
    assert endpoints["authorize"] == "http://testserver/auth/authorize"
    assert endpoints["token"] == "http://testserver/auth/token"
