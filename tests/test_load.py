"""`medrec load`, run as a subprocess against the session's database server."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from pymongo import MongoClient

from fhir_server.bulk.load import STATE_COLLECTION
from fhir_server.bulk.synthetic import patient_bundle
from tests.test_cli import cli_env, describe, run  # noqa: F401  (cli_env: a fixture)

Db = Any  # a pymongo Database of the test's database


def _patient(rid: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": rid, "gender": "female", "birthDate": "1970-01-01"}


def _observation(subject: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": subject},
        "valueQuantity": {"value": 72.5, "unit": "/min", "system": "http://unitsofmeasure.org"},
    }


def _write_inputs(folder: Path) -> dict[str, Path]:
    folder.mkdir()
    transaction = folder / "a-patient.json"
    transaction.write_bytes(orjson.dumps(patient_bundle(21, 200)))
    collection = folder / "b-collection.json"
    entries = [_patient("load-c1"), _patient("load-c2"), _observation("Patient/load-c1")]
    collection.write_bytes(
        orjson.dumps(
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": r} for r in entries],
            }
        )
    )
    ndjson = folder / "c-patients.ndjson"
    lines = [
        json.dumps(_patient("load-n1")),
        json.dumps(_patient("load-n2")),
        "{not json",
        "",
        json.dumps(_observation("Patient/load-n2")),
        json.dumps({"resourceType": "Patient", "id": "load-n3", "gender": "mail"}),
    ]
    ndjson.write_text("\n".join(lines) + "\n")
    (folder / "notes.txt").write_text("not loaded: not .json or .ndjson")
    return {"transaction": transaction, "collection": collection, "ndjson": ndjson}


def _counts(db: Db) -> dict[str, int]:
    names = ("Patient", "Observation", "Encounter", "Patient_history", "Observation_history")
    return {name: db[name].count_documents({}) for name in names}


def test_load_a_folder_then_skip_it(
    cli_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    mongodb_uri: str,
    database_name: str,
) -> None:
    files = _write_inputs(tmp_path / "input")
    bundle_types = Counter(
        e["resource"]["resourceType"]
        for e in orjson.loads(files["transaction"].read_bytes())["entry"]
    )

    first = run(["load", "input"], cli_env, tmp_path)
    # The NDJSON file has two bad lines: reported, the rest loaded, a non-zero exit.
    assert first.returncode == 1, describe(first)
    out = first.stdout
    assert "line 3: The body is not valid JSON" in out, describe(first)
    assert "line 6:" in out and "gender" in out, describe(first)
    assert "notes.txt" not in out
    assert "206 resources loaded; files: 2 loaded, 1 failed, 0 skipped" in out, describe(first)

    with MongoClient(mongodb_uri) as client:
        db = client[database_name]
        counts = _counts(db)
        assert counts["Patient"] == 1 + 2 + 2
        assert counts["Observation"] == bundle_types["Observation"] + 1 + 1
        assert counts["Encounter"] == bundle_types["Encounter"]
        assert db["Patient"].find_one({"_id": "load-n3"}) is None
        # Through the repository: stored with versions and index values, like a REST write.
        stored = db["Patient"].find_one({"_id": "load-c1"})
        assert stored is not None and stored["v"] == 1 and stored["res"]["meta"]["versionId"] == "1"
        assert "gender" in stored["idx"]
        observation = db["Observation"].find_one({"res.subject.reference": "Patient/load-n2"})
        assert observation is not None and observation["comp"] == ["load-n2"]
        records = list(db[STATE_COLLECTION].find())
        assert len(records) == 3 and all(r["done"] for r in records)
        assert all("path" not in r for r in records)  # file names may name patients

        again = run(["load", str(files["ndjson"]), "input"], cli_env, tmp_path)
        assert again.returncode == 0, describe(again)
        assert "0 resources loaded; files: 0 loaded, 0 failed, 3 skipped" in again.stdout
        assert "already loaded" in again.stdout
        assert _counts(db) == counts  # nothing written twice, no new versions


def test_interrupted_ndjson_continues_after_its_last_committed_line(
    cli_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    mongodb_uri: str,
    database_name: str,
) -> None:
    ndjson = tmp_path / "patients.ndjson"
    ndjson.write_text("".join(json.dumps(_patient(f"resume-{i}")) + "\n" for i in range(5)))
    digest = hashlib.sha256(ndjson.read_bytes()).hexdigest()
    with MongoClient(mongodb_uri) as client:
        db = client[database_name]
        # What a run stopped after two committed lines leaves behind.
        db[STATE_COLLECTION].insert_one(
            {"_id": digest, "position": 2, "loaded": 2, "failed": 0, "reasons": [], "done": False}
        )
        result = run(["load", "--batch-size", "2", "patients.ndjson"], cli_env, tmp_path)
        assert result.returncode == 0, describe(result)
        assert "resumed after 2" in result.stdout, describe(result)
        ids = sorted(doc["_id"] for doc in db["Patient"].find())
        assert ids == ["resume-2", "resume-3", "resume-4"]
        record = db[STATE_COLLECTION].find_one({"_id": digest})
        assert record is not None and record["done"] and record["loaded"] == 5


def test_bad_files_are_reported_and_a_failed_transaction_writes_nothing(
    cli_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    mongodb_uri: str,
    database_name: str,
) -> None:
    (tmp_path / "broken.json").write_text('{"resourceType": "Bundle", ')
    (tmp_path / "patient.json").write_text(json.dumps(_patient("single")))
    (tmp_path / "big.json").write_text(" " * 70_000 + "{}")
    bundle = patient_bundle(3, 50)
    bundle["entry"][30]["resource"]["status"] = "not-a-status"
    (tmp_path / "bad-transaction.json").write_bytes(orjson.dumps(bundle))
    args = ["load", "--max-file-bytes", "65536", "broken.json", "patient.json", "big.json"]
    result = run([*args, "bad-transaction.json"], cli_env, tmp_path)
    assert result.returncode == 1, describe(result)
    out = result.stdout
    assert "not valid JSON" in out, describe(result)
    assert "not a FHIR Bundle" in out, describe(result)
    assert "more than the 65,536 a JSON file may have" in out, describe(result)
    assert "entry[30]" in out, describe(result)
    assert "0 resources loaded; files: 0 loaded, 4 failed, 0 skipped" in out, describe(result)
    assert "Traceback" not in out + result.stderr
    with MongoClient(mongodb_uri) as client:
        db = client[database_name]
        assert "Patient" not in db.list_collection_names() or db["Patient"].count_documents({}) == 0
        # Nothing recorded: a fixed database (or file) is tried again on the next run.
        assert db[STATE_COLLECTION].count_documents({"done": True}) == 0

    missing = run(["load", "nowhere.ndjson"], cli_env, tmp_path)
    assert missing.returncode == 2 and "nowhere.ndjson" in missing.stdout, describe(missing)
