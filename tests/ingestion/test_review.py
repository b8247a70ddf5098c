"""The review queue over HTTP (``ingestion/review.py``): a real synthetic lab page read by the
real pipeline (Tesseract), committed into the app's database, then listed, accepted, corrected
and rejected with real tokens."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase

from fhir_server.config import Settings
from fhir_server.storage.repository import Repository
from ingestion.labels.colours import RECORD_CATEGORY
from ingestion.scans.commit import Committed, Committer, Scan
from ingestion.scans.document import documents
from ingestion.scans.ocr import Ocr
from ingestion.scans.pipeline import FileReading, Pipeline
from ingestion.scans.resources import LAB_REPORT
from ingestion.scans.synthetic import SyntheticPage
from ingestion.scans.vault import ScanVault
from smart_auth.tokens import Grant
from tests.conftest import ADMIN, bearer
from tests.ingestion.scan_support import add_patient, lab_page_with_review, sha256

SERVER = "http://testserver"
QUEUE = "/ingest/review"
KEY = bytes(range(32))  # the app's scan key and the committer's: the review reads scans again
PATIENT = Grant(subject="p1", client_id="portal", scope="patient/*.*", role="patient", patient="x")


@pytest.fixture(scope="module")
def lab(ocr: Ocr) -> tuple[SyntheticPage, FileReading]:
    page = lab_page_with_review()
    return page, Pipeline(ocr).read_file(page.data)


@pytest.fixture
def settings(mongodb_uri: str, database_name: str, tmp_path: Path) -> Settings:
    key = base64.b64encode(KEY).decode()
    return Settings(
        mongodb_uri=mongodb_uri, database=database_name, data_dir=tmp_path, scan_key=key
    )


@pytest.fixture
async def committer(db: AsyncDatabase[Any], repository: Repository) -> Committer:
    found = Committer(repository, None, ScanVault(db, KEY))
    await found.ensure()
    return found


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=SERVER, timeout=60) as client:
        yield client


async def ingest(
    lab: tuple[SyntheticPage, FileReading], committer: Committer, *, threshold: float = 1.01
) -> Committed:
    """Commit the page; with a threshold above 1 no value is sure enough: each is a Task."""
    page, reading = lab
    [document] = documents(reading)
    strict = Committer(committer.repository, None, committer.vault, threshold=threshold)
    return await strict.commit(document, Scan(page.data, page.media_type, f"{sha256(page.data)}#0"))


async def practitioner(repository: Repository) -> Grant:
    version = await repository.create(
        {"resourceType": "Practitioner", "name": [{"family": "Reviewer"}]}, "Practitioner"
    )
    return Grant(
        subject="dr",
        client_id="medrec-tests",
        scope="user/*.*",
        role="practitioner",
        fhir_user=f"Practitioner/{version.id}",
    )


async def read(repository: Repository, reference: str) -> dict[str, Any]:
    rtype, rid = reference.split("/")
    version = await repository.read(rtype, rid)
    assert version.body is not None
    found: dict[str, Any] = orjson.loads(version.body)
    return found


async def queue(
    http: httpx.AsyncClient, app: FastAPI, query: str = "", grant: Grant = ADMIN
) -> list[dict[str, Any]]:
    response = await http.get(f"{QUEUE}{query}", headers=bearer(app, grant))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    return [entry["resource"] for entry in response.json()["entry"]]


def given(task: dict[str, Any], kind: str) -> Any:
    [value] = [
        next(v for k, v in i.items() if k.startswith("value"))
        for i in task["input"]
        if i["type"]["text"] == kind
    ]
    return value


def only_unsure(tasks: list[dict[str, Any]]) -> dict[str, Any]:
    """A value that passed every check and was only below the (raised) confidence threshold:
    the potassium's (its value times 1000 is implausible; TSH's 0.51 would not be, and the
    queue's order among Tasks written together is their ids')."""
    return next(
        t
        for t in tasks
        if t["reasonCode"]["text"].startswith("value confidence")
        and given(t, "printed test") == "Potassium"
    )


async def test_the_queue_lists_and_accepting_writes_the_value(
    lab: tuple[SyntheticPage, FileReading],
    committer: Committer,
    repository: Repository,
    http: httpx.AsyncClient,
    app: FastAPI,
) -> None:
    page, _ = lab
    patient = await add_patient(repository, page.truth)
    done = await ingest(lab, committer)
    assert done.patient == patient and done.observations == 0

    tasks = await queue(http, app, f"?patient=Patient/{patient}&category=lab-results")
    assert sorted(t["id"] for t in tasks) == sorted(done.created["Task"])
    assert await queue(http, app, "?category=medical-history") == []
    paged = await http.get(f"{QUEUE}?_count=1", headers=bearer(app, ADMIN))
    [first] = [entry["resource"] for entry in paged.json()["entry"]]
    [following] = [link["url"] for link in paged.json()["link"] if link["relation"] == "next"]
    assert following.startswith("http://testserver/fhir/Task?")
    second = await http.get(following, headers=bearer(app, ADMIN))
    assert [e["resource"]["id"] for e in second.json()["entry"]] != [first["id"]]

    task = only_unsure(tasks)
    one = await http.get(f"{QUEUE}/{task['id']}", headers=bearer(app, ADMIN))
    assert one.status_code == 200 and one.json()["id"] == task["id"]

    grant = await practitioner(repository)
    response = await http.post(f"{QUEUE}/{task['id']}/accept", headers=bearer(app, grant))
    assert response.status_code == 200, response.text
    completed = response.json()
    assert completed["status"] == "completed" and completed["owner"] == {
        "reference": grant.fhir_user
    }
    written = [o["valueReference"]["reference"] for o in completed["output"]]
    [value_ref] = [w for w in written if w.startswith("Observation/")]
    value = await read(repository, value_ref)
    assert value["derivedFrom"] == [{"reference": f"DocumentReference/{done.document_reference}"}]
    assert value["code"]["coding"][0]["code"] == given(task, "candidate test")["code"]
    assert value["valueQuantity"]["value"] == given(task, "candidate value")["value"]
    report = await read(repository, f"DiagnosticReport/{done.created['DiagnosticReport'][0]}")
    assert report["result"] == [{"reference": value_ref}] and report["status"] == "partial"

    [record] = [await read(repository, f"Provenance/{rid}") for rid in await _provenances(
        repository, value_ref)]  # fmt: skip
    roles = {a["type"]["coding"][0]["code"]: a["who"] for a in record["agent"]}
    assert roles["verifier"] == {"reference": grant.fhir_user} and "assembler" in roles
    assert "reason" not in record
    assert {t["reference"] for t in record["target"]} >= {value_ref, f"Task/{task['id']}"}

    assert task["id"] not in {t["id"] for t in await queue(http, app)}
    again = await http.post(f"{QUEUE}/{task['id']}/accept", headers=bearer(app, grant))
    assert again.status_code == 409
    assert again.json()["resourceType"] == "OperationOutcome"


async def test_a_correction_is_checked_and_an_override_recorded(
    lab: tuple[SyntheticPage, FileReading],
    committer: Committer,
    repository: Repository,
    http: httpx.AsyncClient,
    app: FastAPI,
) -> None:
    page, _ = lab
    await add_patient(repository, page.truth)
    done = await ingest(lab, committer)
    task = only_unsure(await queue(http, app))
    value = given(task, "candidate value")
    url = f"{QUEUE}/{task['id']}/accept"
    # Scaled in decimal: a float product (3.7 * 1000 = 3700.0000000000005) would be refused
    # for its decimals before its plausibility is checked.
    scaled = Decimal(str(value["value"])) * 1000
    implausible = {"value": str(scaled)}

    refused = await http.post(url, json=implausible, headers=bearer(app, ADMIN))
    assert refused.status_code == 422
    assert "plausible" in refused.text
    assert await repository.collections.db["Observation"].count_documents({}) == 0
    bad = await http.post(url, json={"unit": "furlongs"}, headers=bearer(app, ADMIN))
    assert bad.status_code == 400 and bad.json()["issue"][0]["expression"] == ["unit"]
    unknown = await http.post(url, json={"colour": "red"}, headers=bearer(app, ADMIN))
    assert unknown.status_code == 400

    kept = await http.post(url, json={**implausible, "override": True}, headers=bearer(app, ADMIN))
    assert kept.status_code == 200, kept.text
    [written] = [o["valueReference"]["reference"] for o in kept.json()["output"]
                 if o["valueReference"]["reference"].startswith("Observation/")]  # fmt: skip
    observation = await read(repository, written)
    assert observation["valueQuantity"]["value"] == pytest.approx(float(scaled))
    [record] = [await read(repository, f"Provenance/{rid}") for rid in await _provenances(
        repository, written)]  # fmt: skip
    assert "plausible" in record["reason"][0]["text"]
    verifier = next(a for a in record["agent"] if a["type"]["coding"][0]["code"] == "verifier")
    assert verifier["who"]["identifier"]["value"] == ADMIN.subject  # an admin without fhirUser
    assert done.document_reference is not None


async def test_rejecting_writes_nothing(
    lab: tuple[SyntheticPage, FileReading],
    committer: Committer,
    repository: Repository,
    http: httpx.AsyncClient,
    app: FastAPI,
) -> None:
    page, _ = lab
    await add_patient(repository, page.truth)
    await ingest(lab, committer)
    task = (await queue(http, app))[0]
    url = f"{QUEUE}/{task['id']}/reject"

    assert (await http.post(url, json={}, headers=bearer(app, ADMIN))).status_code == 400
    response = await http.post(url, json={"reason": "smudged"}, headers=bearer(app, ADMIN))
    assert response.status_code == 200, response.text
    rejected = response.json()
    assert rejected["status"] == "rejected" and rejected["statusReason"]["text"] == "smudged"
    assert await repository.collections.db["Observation"].count_documents({}) == 0
    again = await http.post(url, json={"reason": "twice"}, headers=bearer(app, ADMIN))
    assert again.status_code == 409


async def test_an_unmatched_document_is_attached_to_the_patient(
    lab: tuple[SyntheticPage, FileReading],
    committer: Committer,
    repository: Repository,
    http: httpx.AsyncClient,
    app: FastAPI,
) -> None:
    page, _ = lab
    done = await ingest(lab, committer, threshold=0.85)  # no Patient with this MRN yet
    assert done.review and done.patient is None
    [task] = await queue(http, app)
    assert task["id"] == done.created["Task"][0] and "for" not in task
    url = f"{QUEUE}/{task['id']}/accept"

    missing = await http.post(url, headers=bearer(app, ADMIN))
    assert missing.status_code == 422
    nobody = await http.post(url, json={"patient": "nobody"}, headers=bearer(app, ADMIN))
    assert nobody.status_code == 422
    patient = await add_patient(repository, page.truth)
    grant = await practitioner(repository)
    response = await http.post(url, json={"patient": patient}, headers=bearer(app, grant))
    assert response.status_code == 200, response.text
    completed = response.json()
    assert completed["for"] == {"reference": f"Patient/{patient}"}
    reference = f"DocumentReference/{done.document_reference}"
    assert completed["output"][0]["valueReference"] == {"reference": reference}
    document = await read(repository, reference)
    assert document["subject"] == {"reference": f"Patient/{patient}"}
    assert document["docStatus"] == "final"

    # What its page yields, read again: the report, the sure values, a Task for each other.
    report = await read(repository, f"DiagnosticReport/{_ids(completed, 'DiagnosticReport')[0]}")
    assert report["subject"] == {"reference": f"Patient/{patient}"}
    values = [
        await read(repository, f"Observation/{rid}") for rid in _ids(completed, "Observation")
    ]
    assert values and all(v["derivedFrom"] == [{"reference": reference}] for v in values)
    assert sorted(r["reference"] for r in report["result"]) == sorted(
        f"Observation/{v['id']}" for v in values
    )
    tasks = await queue(http, app, f"?patient=Patient/{patient}")
    assert sorted(t["id"] for t in tasks) == sorted(_ids(completed, "Task"))
    [record] = [await read(repository, f"Provenance/{rid}") for rid in await _provenances(
        repository, f"Observation/{values[0]['id']}")]  # fmt: skip
    assert {"reference": grant.fhir_user} in [a["who"] for a in record["agent"]]

    # A value of the document read again, accepted: into the report written on acceptance.
    candidate = next(
        t for t in tasks if "candidate value" in {i["type"]["text"] for i in t["input"]}
    )
    accepted = await http.post(
        f"{QUEUE}/{candidate['id']}/accept", json={"override": True}, headers=bearer(app, grant)
    )
    assert accepted.status_code == 200, accepted.text
    report = await read(repository, f"DiagnosticReport/{report['id']}")
    assert f"Observation/{_ids(accepted.json(), 'Observation')[0]}" in {
        r["reference"] for r in report["result"]
    }


async def test_the_reviewer_chooses_the_category_of_a_document_without_one(
    lab: tuple[SyntheticPage, FileReading],
    committer: Committer,
    repository: Repository,
    http: httpx.AsyncClient,
    app: FastAPI,
) -> None:
    page, reading = lab
    [read_page] = documents(reading)
    # As a page whose colour is unknown and whose barcode names no category is read.
    document = dataclasses.replace(
        read_page, category=None, reasons=("no category: no barcode carries one",)
    )
    scan = Scan(page.data, page.media_type, f"{sha256(page.data)}#0")
    done = await committer.commit(document, scan)
    assert done.review and done.document_reference is not None
    reference = f"DocumentReference/{done.document_reference}"
    assert "category" not in await read(repository, reference)
    [task] = await queue(http, app)
    url = f"{QUEUE}/{task['id']}/accept"
    patient = await add_patient(repository, page.truth)

    bad = await http.post(url, json={"patient": patient, "category": "recipes"},
                          headers=bearer(app, ADMIN))  # fmt: skip
    assert bad.status_code == 400
    issue = bad.json()["issue"][0]
    assert issue["expression"] == ["category"] and "lab-results" in issue["diagnostics"]
    refused = await http.post(url, json={"patient": patient, "category": "lab-results"},
                              headers=bearer(app, PATIENT))  # fmt: skip
    assert refused.status_code == 403
    assert (await read(repository, f"Task/{task['id']}"))["status"] == "requested"

    grant = await practitioner(repository)
    response = await http.post(url, json={"patient": patient, "category": "lab-results"},
                               headers=bearer(app, grant))  # fmt: skip
    assert response.status_code == 200, response.text
    completed = response.json()
    decision = {"type": {"text": "record category"},
                "valueCoding": {"system": RECORD_CATEGORY, "code": "lab-results"}}  # fmt: skip
    assert decision in completed["output"]
    categorised = await read(repository, reference)
    assert {"system": RECORD_CATEGORY, "code": "lab-results"} in [
        c for concept in categorised["category"] for c in concept["coding"]
    ]
    assert categorised["type"]["coding"][0]["code"] == LAB_REPORT["code"]
    assert categorised["subject"] == {"reference": f"Patient/{patient}"}
    # A lab report now: its page read again, as for a document that had its category.
    assert _ids(completed, "DiagnosticReport")
    [record] = [await read(repository, f"Provenance/{rid}") for rid in await _provenances(
        repository, reference) if rid not in done.created["Provenance"]]  # fmt: skip
    assert {"reference": grant.fhir_user} in [a["who"] for a in record["agent"]]


async def test_patients_may_not_review(
    lab: tuple[SyntheticPage, FileReading],
    committer: Committer,
    repository: Repository,
    http: httpx.AsyncClient,
    app: FastAPI,
) -> None:
    page, _ = lab
    await add_patient(repository, page.truth)
    done = await ingest(lab, committer)
    task_id = done.created["Task"][0]
    for method, url in (("GET", QUEUE), ("GET", f"{QUEUE}/{task_id}"),
                        ("POST", f"{QUEUE}/{task_id}/accept")):  # fmt: skip
        response = await http.request(method, url, headers=bearer(app, PATIENT))
        assert response.status_code == 403, url
    assert (await http.get(f"{QUEUE}/{task_id}")).status_code == 401
    unknown = await http.get(f"{QUEUE}/no-such-task", headers=bearer(app, ADMIN))
    assert unknown.status_code == 404


def _ids(task: dict[str, Any], rtype: str) -> list[str]:
    references = [o["valueReference"]["reference"] for o in task["output"] if "valueReference" in o]
    return [r.split("/")[1] for r in references if r.startswith(f"{rtype}/")]


async def _provenances(repository: Repository, target: str) -> list[str]:
    found = repository.collections.db["Provenance"].find({}, {"_id": 1})
    ids = [str(doc["_id"]) async for doc in found]
    matching = []
    for rid in ids:
        record = await read(repository, f"Provenance/{rid}")
        if any(t["reference"] == target for t in record["target"]):
            matching.append(rid)
    return matching
