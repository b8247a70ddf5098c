"""End to end: the real fhirpy client against `medrec serve` (a subprocess running its own
embedded database), over real HTTP."""

# fhirpy leaves some resource methods (serialize, delete) unannotated.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from fhirpy import AsyncFHIRClient, SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome, ResourceNotFound
from requests.structures import CaseInsensitiveDict

from tests.e2e.server import RunningServer, parent_of

pytestmark = pytest.mark.slow

MRN = "https://abc-medical.example.org/fhir/sid/mrn"


def patient_fields(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "identifier": [{"system": MRN, "value": f"MRN-{uuid.uuid4().hex[:8]}"}],
        "active": True,
        "name": [{"family": "Okonkwo", "given": ["Ada"]}],
        "gender": "female",
        "birthDate": "1975-06-01",
    }
    body.update(fields)
    return body


class Exchanges:
    """Records (method, path, status, headers) of each request a SyncFHIRClient makes, through
    a `requests` response hook."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, int, CaseInsensitiveDict[str]]] = []

    def hook(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        request = response.request
        path = urlsplit(str(request.url)).path
        self.seen.append((str(request.method), path, response.status_code, response.headers))

    def statuses(self) -> list[tuple[str, int]]:
        return [(method, status) for method, _, status, _ in self.seen]

    @property
    def last_headers(self) -> CaseInsensitiveDict[str]:
        return self.seen[-1][3]


async def test_patient_lifecycle_async(fhir_base: str, authorization: str) -> None:
    client = AsyncFHIRClient(fhir_base, authorization=authorization)

    # create (POST)
    patient = client.resource("Patient", **patient_fields())
    await patient.save()
    rid = patient.id
    assert isinstance(rid, str) and rid
    assert patient["meta"]["versionId"] == "1"
    assert patient["meta"]["lastUpdated"].endswith("Z")
    assert patient["name"] == [{"family": "Okonkwo", "given": ["Ada"]}]
    v1 = patient.serialize()
    ref = client.reference("Patient", rid)

    # read
    read = await ref.to_resource()
    assert read.serialize() == v1

    # vread, through the reference and through the client
    assert await ref.execute("_history/1", method="get") == v1
    assert await client.execute(f"Patient/{rid}/_history/1", method="get") == v1

    # update (PUT): version 2, the old version kept
    patient["gender"] = "other"
    patient["telecom"] = [{"system": "phone", "value": "+1-555-0199", "use": "mobile"}]
    await patient.save()
    assert patient.id == rid
    assert patient["meta"]["versionId"] == "2"
    read = await ref.to_resource()
    assert read["gender"] == "other"
    assert read["telecom"] == [{"system": "phone", "value": "+1-555-0199", "use": "mobile"}]
    assert read["meta"]["versionId"] == "2"
    assert (await ref.execute("_history/1", method="get"))["gender"] == "female"
    with pytest.raises(ResourceNotFound):
        await ref.execute("_history/3", method="get")

    # patch through the resource: fhirpy sends {"active": false} as application/json, a JSON
    # merge patch; the rest of the resource is untouched
    await patient.patch(active=False)
    assert patient["meta"]["versionId"] == "3"
    assert patient["active"] is False
    read = await ref.to_resource()
    assert read["active"] is False
    assert read["gender"] == "other"
    assert read["name"] == [{"family": "Okonkwo", "given": ["Ada"]}]

    # patch through the client: a null removes the element (RFC 7396)
    patched = await client.patch("Patient", rid, birthDate=None)
    assert patched["meta"]["versionId"] == "4"
    assert "birthDate" not in patched
    assert "birthDate" in patient  # the local copy is at version 3 ...

    # refresh (fhirpy sends If-None-Match with the bare version id): a stale copy is brought up
    # to date, a current one stays as it is (304)
    await patient.refresh()
    assert patient["meta"]["versionId"] == "4"
    assert "birthDate" not in patient
    current = await ref.to_resource()
    await current.refresh()
    assert current.serialize() == patient.serialize() == patched

    # delete; then a read is 410 Gone, which fhirpy reports as ResourceNotFound
    assert await patient.delete() is None
    with pytest.raises(ResourceNotFound) as gone:
        await ref.to_resource()
    assert '"deleted"' in str(gone.value)  # the OperationOutcome of a 410, not a 404
    with pytest.raises(ResourceNotFound):
        await ref.execute("_history/5", method="get")
    # earlier versions stay readable
    assert await ref.execute("_history/1", method="get") == v1

    # history: newest first, one entry per version, the deletion without a resource
    bundle = await client.execute(f"Patient/{rid}/_history", method="get")
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "history"
    entries = bundle["entry"]
    assert len(entries) == 5
    assert all(e["fullUrl"] == f"{fhir_base}/Patient/{rid}" for e in entries)
    methods = [e["request"]["method"] for e in entries]
    assert methods[0] == "DELETE"
    assert methods[1] == "PATCH"
    assert methods[2] == "PATCH"
    assert methods[3:] == ["PUT", "POST"]
    assert "resource" not in entries[0]
    assert entries[0]["response"]["status"].startswith("204")
    assert [e["resource"]["meta"]["versionId"] for e in entries[1:]] == ["4", "3", "2", "1"]
    assert entries[-1]["resource"] == v1
    assert entries[-1]["response"]["status"].startswith("201")
    assert entries[3]["resource"]["gender"] == "other"
    assert "birthDate" not in entries[1]["resource"]
    assert entries[2]["resource"]["active"] is False


def test_patient_lifecycle_sync_http_exchanges(fhir_base: str, authorization: str) -> None:
    exchanges = Exchanges()
    client = SyncFHIRClient(
        fhir_base,
        authorization=authorization,
        requests_config={"hooks": {"response": [exchanges.hook]}},
    )

    patient = client.resource("Patient", **patient_fields(gender="male"))
    patient.save()
    rid = patient.id
    assert exchanges.seen[-1][:3] == ("POST", "/fhir/Patient", 201)
    headers = exchanges.last_headers
    assert headers["ETag"] == 'W/"1"'
    assert headers["Location"] == f"{fhir_base}/Patient/{rid}/_history/1"
    assert headers["Content-Type"].startswith("application/fhir+json")

    ref = client.reference("Patient", rid)
    assert ref.to_resource().serialize() == patient.serialize()
    assert exchanges.seen[-1][:3] == ("GET", f"/fhir/Patient/{rid}", 200)

    patient["gender"] = "unknown"
    patient.save()
    assert patient["meta"]["versionId"] == "2"
    assert exchanges.seen[-1][:3] == ("PUT", f"/fhir/Patient/{rid}", 200)
    assert exchanges.last_headers["ETag"] == 'W/"2"'

    patient.refresh()  # current: 304, nothing changes
    assert exchanges.seen[-1][:3] == ("GET", f"/fhir/Patient/{rid}", 304)
    assert patient["gender"] == "unknown"
    assert patient["meta"]["versionId"] == "2"

    ref.patch(gender="male")
    assert exchanges.seen[-1][:3] == ("PATCH", f"/fhir/Patient/{rid}", 200)
    patient.refresh()  # stale: 200 with version 3
    assert exchanges.seen[-1][:3] == ("GET", f"/fhir/Patient/{rid}", 200)
    assert patient["gender"] == "male"
    assert patient["meta"]["versionId"] == "3"

    patient.delete()
    assert exchanges.seen[-1][:3] == ("DELETE", f"/fhir/Patient/{rid}", 204)
    with pytest.raises(ResourceNotFound):
        ref.to_resource()
    assert exchanges.seen[-1][:3] == ("GET", f"/fhir/Patient/{rid}", 410)
    with pytest.raises(ResourceNotFound):
        client.reference("Patient", f"never-{uuid.uuid4().hex}").to_resource()
    assert exchanges.seen[-1][2] == 404

    history = client.execute(f"Patient/{rid}/_history", method="get")
    assert [e["request"]["method"] for e in history["entry"]][::3] == ["DELETE", "POST"]
    assert len(history["entry"]) == 4


async def test_update_as_create_and_references(fhir_base: str, authorization: str) -> None:
    client = AsyncFHIRClient(fhir_base, authorization=authorization)
    rid = f"e2e-{uuid.uuid4().hex[:12]}"
    patient = client.resource("Patient", id=rid, **patient_fields())
    await patient.save()  # PUT with a client-chosen id: created as version 1
    assert patient.id == rid
    assert patient["meta"]["versionId"] == "1"

    observation = client.resource(
        "Observation",
        status="final",
        code={"coding": [{"system": "http://loinc.org", "code": "4548-4"}], "text": "HbA1c"},
        subject=patient.to_reference(display="Ada Okonkwo"),
        valueQuantity={"value": 6.5, "unit": "%", "system": "http://unitsofmeasure.org"},
    )
    await observation.save()
    stored = await client.reference("Observation", observation.id).to_resource()
    assert stored["subject"].reference == f"Patient/{rid}"
    assert stored["subject"]["display"] == "Ada Okonkwo"
    assert stored["valueQuantity"]["value"] == 6.5
    subject = await stored["subject"].to_resource()
    assert subject.serialize() == patient.serialize()


async def test_transaction_posted_by_fhirpy(fhir_base: str, authorization: str) -> None:
    client = AsyncFHIRClient(fhir_base, authorization=authorization)
    mrn = f"MRN-{uuid.uuid4().hex[:8]}"
    placeholder = "urn:uuid:7c1b5f2e-0000-4000-8000-000000000001"
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": placeholder,
             "resource": {"resourceType": "Patient", **patient_fields(
                 identifier=[{"system": MRN, "value": mrn}])},
             "request": {"method": "POST", "url": "Patient",
                         "ifNoneExist": f"identifier={MRN}|{mrn}"}},
            {"resource": {"resourceType": "Observation", "status": "final",
                          "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
                          "subject": {"reference": placeholder}},
             "request": {"method": "POST", "url": "Observation"}},
        ],
    }  # fmt: skip
    answer = await client.execute("", method="post", data=bundle)
    assert answer["type"] == "transaction-response"
    assert [e["response"]["status"] for e in answer["entry"]] == ["201 Created", "201 Created"]
    patients = await client.resources("Patient").search(identifier=f"{MRN}|{mrn}").fetch()
    (patient,) = patients
    observations = await client.resources("Observation").search(subject=patient.id).fetch()
    assert len(observations) == 1
    # the same transaction again: the conditional create finds the patient
    again = await client.execute("", method="post", data=bundle)
    assert again["entry"][0]["response"]["status"] == "200 OK"
    assert len(await client.resources("Patient").search(identifier=f"{MRN}|{mrn}").fetch()) == 1


async def test_invalid_resource_is_an_operation_outcome(fhir_base: str, authorization: str) -> None:
    client = AsyncFHIRClient(fhir_base, authorization=authorization)
    with pytest.raises(OperationOutcome) as error:
        await client.resource("Patient", **patient_fields(birthDate="yesterday")).save()
    outcome = error.value.resource
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"]
    assert {issue["severity"] for issue in outcome["issue"]} <= {"error", "fatal"}
    assert "Patient.birthDate" in str(outcome)
    # nothing was stored
    bundle = await client.execute("Patient/_history", method="get", params={"_count": "1000"})
    stored = [e["resource"] for e in bundle.get("entry", []) if "resource" in e]
    assert all(r.get("birthDate") != "yesterday" for r in stored)


async def test_server_runs_its_own_embedded_database(
    medrec_server: RunningServer, authorization: str
) -> None:
    database = medrec_server.database
    assert parent_of(database.ppid) == medrec_server.process.pid  # through its guard
    assert f"--storage-path {medrec_server.data_dir / 'db'}" in database.cmdline
    assert any((medrec_server.data_dir / "db").iterdir())
    capabilities = await AsyncFHIRClient(
        medrec_server.fhir_base, authorization=authorization
    ).execute("metadata", method="get")
    assert capabilities["resourceType"] == "CapabilityStatement"
    assert capabilities["fhirVersion"] == "4.0.1"
