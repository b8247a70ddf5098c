"""Generated patient bundles: deterministic, many resource types, accepted whole by medrec."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from fhir_server.bulk.synthetic import patient_bundle

FHIR_JSON = {"Content-Type": "application/fhir+json"}


def test_same_seed_same_bundle_and_exact_size() -> None:
    assert patient_bundle(7, 250) == patient_bundle(7, 250)
    assert patient_bundle(7, 250) != patient_bundle(8, 250)
    for size in (2, 200, 1234):
        assert len(patient_bundle(3, size)["entry"]) == size
    with pytest.raises(ValueError):
        patient_bundle(3, 1)


def test_many_resource_types_all_referencing_earlier_entries() -> None:
    bundle = patient_bundle(11, 1500)
    types = Counter(entry["resource"]["resourceType"] for entry in bundle["entry"])
    assert types["Patient"] == 1
    for rtype in (
        "Encounter",
        "Observation",
        "Condition",
        "Procedure",
        "MedicationRequest",
        "Immunization",
        "DiagnosticReport",
        "AllergyIntolerance",
        "CarePlan",
    ):
        assert types[rtype] > 0, rtype
    seen: set[str] = set()
    for entry in bundle["entry"]:
        assert entry["fullUrl"].startswith("urn:uuid:")
        for reference in _references(entry["resource"]):
            assert reference in seen, reference  # a cut anywhere keeps the bundle whole
        seen.add(entry["fullUrl"])


async def test_a_generated_bundle_is_accepted_whole(client: httpx.AsyncClient) -> None:
    bundle = patient_bundle(5, 400)
    response = await client.post("", json=bundle, headers=FHIR_JSON)
    assert response.status_code == 200, response.text[:2000]
    answer = response.json()
    statuses = Counter(entry["response"]["status"] for entry in answer["entry"])
    assert statuses == {"201 Created": 400}
    locations = {
        sent["fullUrl"]: got["response"]["location"].split("/_history/")[0]
        for sent, got in zip(bundle["entry"], answer["entry"], strict=True)
    }
    patient = locations[bundle["entry"][0]["fullUrl"]]

    # The references were rewritten to the stored ids: a search by patient finds every
    # resource that names it, and a DiagnosticReport's results are its Observations.
    sent_types = Counter(entry["resource"]["resourceType"] for entry in bundle["entry"])
    found = await client.get(
        "Observation", params={"subject": patient, "_count": "1000", "_summary": "count"}
    )
    assert found.json()["total"] == sent_types["Observation"]
    everything_of_patient = await client.get(
        "Encounter", params={"patient": patient, "_summary": "count"}
    )
    assert everything_of_patient.json()["total"] == sent_types["Encounter"]
    report_url = next(
        locations[e["fullUrl"]]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "DiagnosticReport"
    )
    report = (await client.get(report_url)).json()
    assert report["subject"]["reference"] == patient
    for result in report["result"]:
        observation = await client.get(result["reference"])
        assert observation.status_code == 200, result
        assert observation.json()["subject"]["reference"] == patient


def _references(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return found + [ref for value in node.values() for ref in _references(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _references(value)]
    return []
