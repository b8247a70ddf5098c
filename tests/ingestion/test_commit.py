"""A scanned document → FHIR in one transaction (ingestion/scans/commit.py), on a real
synthetic page read by the real pipeline (Tesseract) into the test's own database."""

from __future__ import annotations

import base64
import hashlib
import secrets
from pathlib import Path
from typing import Any

import orjson
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from fhir_server.storage.repository import Repository
from ingestion.scans import resources
from ingestion.scans.commit import KEYS, Committed, Committer, DuplicateDocument, Scan
from ingestion.scans.document import ScannedDocument, documents
from ingestion.scans.ocr import Ocr
from ingestion.scans.pipeline import FileReading, Pipeline
from ingestion.scans.synthetic import SyntheticPage
from ingestion.scans.vault import BLOB_EXTENSION, COLLECTION, ScanKeyError, ScanVault, load_key
from tests.ingestion.scan_support import add_patient, lab_page_with_review, sha256

Db = AsyncDatabase[dict[str, Any]]


@pytest.fixture(scope="module")
def lab(ocr: Ocr) -> tuple[SyntheticPage, FileReading]:
    page = lab_page_with_review()
    return page, Pipeline(ocr).read_file(page.data)


def the_document(lab: tuple[SyntheticPage, FileReading]) -> tuple[SyntheticPage, ScannedDocument]:
    page, reading = lab
    [document] = documents(reading)
    return page, document


def scan_of(page: SyntheticPage, source: str | None = None) -> Scan:
    return Scan(page.data, page.media_type, source or f"{sha256(page.data)}#0")


async def read(repository: Repository, rtype: str, rid: str) -> dict[str, Any]:
    version = await repository.read(rtype, rid)
    assert version.body is not None
    result: dict[str, Any] = orjson.loads(version.body)
    return result


async def test_a_lab_page_becomes_fhir(
    lab: tuple[SyntheticPage, FileReading], committer: Committer, repository: Repository, db: Db
) -> None:
    page, document = the_document(lab)
    patient = await add_patient(repository, page.truth)
    done = await committer.commit(document, scan_of(page))

    assert done.patient == patient and not done.review
    created = done.created
    for rtype in ("Binary", "DocumentReference", "DiagnosticReport", "Provenance", "Device"):
        assert len(created[rtype]) == 1, rtype
    assert document.pages[0].decision is not None
    rows = document.pages[0].decision.rows
    accepted = [row for row in rows if row.accepted]
    assert done.observations == len(accepted) >= 3
    assert done.tasks == len(rows) - len(accepted) >= 1

    # The Binary carries no bytes; the vault holds ciphertext, never the plaintext.
    [binary_id] = created["Binary"]
    binary = await read(repository, "Binary", binary_id)
    assert "data" not in binary
    [extension] = binary["_data"]["extension"]
    assert extension["url"] == BLOB_EXTENSION
    blob = extension["valueString"]
    stored = b"".join([bytes(c["data"]) async for c in db[COLLECTION].find({"blob": blob})])
    assert page.data[:4096] not in stored and len(stored) == len(page.data) + 16  # GCM tag
    assert await committer.vault.get(blob) == page.data

    reference = await read(repository, "DocumentReference", done.document_reference or "")
    assert reference["status"] == "current" and reference["docStatus"] == "final"
    assert reference["identifier"][0]["value"] == page.truth.document_id
    assert reference["type"]["coding"][0]["code"] == "11502-2"
    assert reference["subject"] == {"reference": f"Patient/{patient}"}
    scan, text = (content["attachment"] for content in reference["content"])
    sha1 = base64.b64encode(hashlib.sha1(page.data).digest()).decode()  # noqa: S324
    assert scan == scan | {"contentType": page.media_type, "size": len(page.data), "hash": sha1}
    assert scan["url"] == f"Binary/{binary_id}"
    assert text["contentType"] == "text/plain"
    assert "LABORATORY REPORT" in base64.b64decode(text["data"]).decode()

    [report_id] = created["DiagnosticReport"]
    report = await read(repository, "DiagnosticReport", report_id)
    assert report["presentedForm"][0]["url"] == f"Binary/{binary_id}"
    assert report["status"] == "partial"  # some rows wait for review
    assert sorted(r["reference"] for r in report["result"]) == sorted(
        f"Observation/{i}" for i in created["Observation"]
    )
    for observation_id in created["Observation"]:
        observation = await read(repository, "Observation", observation_id)
        assert observation["category"][0]["coding"][0]["code"] == "laboratory"
        assert observation["code"]["coding"][0]["system"] == "http://loinc.org"
        assert observation["valueQuantity"]["system"] == "http://unitsofmeasure.org"
        assert observation["referenceRange"] and observation["interpretation"]
        assert observation["derivedFrom"] == [
            {"reference": f"DocumentReference/{done.document_reference}"}
        ]

    [provenance_id] = created["Provenance"]
    provenance = await read(repository, "Provenance", provenance_id)
    targets = {t["reference"] for t in provenance["target"]}
    everything = {f"{t}/{i}" for t, ids in created.items() if t not in ("Device", "Provenance")
                  for i in ids}  # fmt: skip
    assert targets == everything
    assert provenance["agent"][0]["who"]["reference"] == f"Device/{created['Device'][0]}"


async def test_uncertain_values_become_tasks_never_observations(
    lab: tuple[SyntheticPage, FileReading], committer: Committer, repository: Repository
) -> None:
    page, document = the_document(lab)
    await add_patient(repository, page.truth)
    assert document.pages[0].decision is not None
    rows = document.pages[0].decision.rows
    strict = Committer(repository, None, committer.vault, threshold=1.01)  # no value is sure
    done = await strict.commit(document, scan_of(page))

    assert done.observations == 0 and done.tasks == len(rows)
    tasks = [await read(repository, "Task", rid) for rid in done.created["Task"]]
    for task in tasks:
        assert task["status"] == "requested"
        assert task["focus"] == {"reference": f"DocumentReference/{done.document_reference}"}
        assert task["reasonCode"]["text"]
    printed = {
        i["valueString"] for t in tasks for i in t["input"] if i["type"]["text"] == "printed test"
    }
    assert printed == {row.row.test.text for row in rows}
    candidates = [i for t in tasks for i in t["input"] if i["type"]["text"] == "candidate value"]
    assert candidates  # the reviewer sees what would have been committed
    report = await read(repository, "DiagnosticReport", done.created["DiagnosticReport"][0])
    assert "result" not in report


@pytest.mark.parametrize("patient", ["none", "other birth date"])
async def test_an_unconfirmed_patient_sends_the_document_to_review(
    lab: tuple[SyntheticPage, FileReading],
    committer: Committer,
    repository: Repository,
    patient: str,
) -> None:
    page, document = the_document(lab)
    if patient == "other birth date":
        await add_patient(repository, page.truth, birthDate="1901-01-01")
    done = await committer.commit(document, scan_of(page))

    assert done.review and done.patient is None
    assert set(done.created) == {"Binary", "DocumentReference", "Task", "Provenance", "Device"}
    reference = await read(repository, "DocumentReference", done.document_reference or "")
    assert "subject" not in reference and reference["docStatus"] == "preliminary"
    [task] = [await read(repository, "Task", rid) for rid in done.created["Task"]]
    assert "for" not in task
    reason = task["reasonCode"]["text"]
    assert ("no Patient" in reason) if patient == "none" else ("date of birth differs" in reason)
    assert page.truth.name not in reason and page.truth.mrn not in reason  # no patient data


async def test_a_stored_document_id_is_refused(
    lab: tuple[SyntheticPage, FileReading], committer: Committer, repository: Repository
) -> None:
    page, document = the_document(lab)
    await add_patient(repository, page.truth)
    first = await committer.commit(document, scan_of(page))
    assert first.document_reference is not None

    with pytest.raises(DuplicateDocument, match=page.truth.document_id):
        await committer.commit(document, scan_of(page, source="another file#0"))
    again = await committer.commit(document, scan_of(page))  # the same file, resumed
    assert again == Committed(page.truth.document_id, None, None, False, already=True)
    assert await committer.repository.collections.db["DocumentReference"].count_documents({}) == 1


async def test_all_or_nothing(
    lab: tuple[SyntheticPage, FileReading],
    committer: Committer,
    repository: Repository,
    db: Db,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    page, document = the_document(lab)
    await add_patient(repository, page.truth)

    def broken(*args: Any) -> dict[str, Any]:
        return {"resourceType": "Provenance", "recorded": "not a date"}

    monkeypatch.setattr("ingestion.scans.commit.provenance", broken)
    with pytest.raises(Exception, match="Provenance"):
        await committer.commit(document, scan_of(page))
    for name in ("Binary", "DocumentReference", "Observation", "Task", COLLECTION, KEYS):
        assert await db[name].count_documents({}) == 0, name
    assert resources.provenance is not broken


def test_the_scan_key(tmp_path: Path) -> None:
    key = load_key(None, tmp_path)  # unset: generated once, then read back
    assert len(key) == 32 and load_key(None, tmp_path) == key
    assert (tmp_path / "scan.key").stat().st_mode & 0o777 == 0o600
    assert load_key(base64.b64encode(b"k" * 32).decode(), tmp_path) == b"k" * 32
    for bad in ("not base64!", base64.b64encode(b"short").decode()):
        with pytest.raises(ScanKeyError):
            load_key(bad, tmp_path)


async def test_a_wrong_key_or_altered_bytes_read_nothing(committer: Committer, db: Db) -> None:
    blob = committer.vault.seal(b"scan bytes", "image/png")
    await committer.vault.store(blob)
    assert await committer.vault.get(blob.id) == b"scan bytes"
    assert await ScanVault(db, secrets.token_bytes(32)).get(blob.id) is None
    await db[COLLECTION].update_one({"blob": blob.id}, {"$set": {"data": b"x" * 26}})
    assert await committer.vault.get(blob.id) is None
