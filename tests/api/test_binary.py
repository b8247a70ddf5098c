"""Reading a Binary (``fhir_server/api/binary.py``): a stored scan decrypted, as FHIR JSON or as
itself, only for who may read its securityContext; an altered scan is an error, never bytes."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase

from fhir_server.config import Settings
from ingestion.scans.resources import binary
from ingestion.scans.vault import BLOB_EXTENSION, COLLECTION, ScanVault
from smart_auth.tokens import Grant
from tests.conftest import bearer
from tests.helpers import FHIR_JSON, patient

KEY = bytes(range(32))
PNG = b"\x89PNG\r\n\x1a\n" + secrets.token_bytes(3000)  # the vault does not look inside


@pytest.fixture
def settings(mongodb_uri: str, database_name: str, tmp_path: Path) -> Settings:
    key = base64.b64encode(KEY).decode()
    return Settings(
        mongodb_uri=mongodb_uri, database=database_name, data_dir=tmp_path, scan_key=key
    )


@dataclass(frozen=True)
class StoredScan:
    patient: str
    document: str
    binary: str
    blob: str


def database(app: FastAPI, settings: Settings) -> AsyncDatabase[Any]:
    db: AsyncDatabase[Any] = app.state.mongo[settings.database]
    return db


async def created(client: httpx.AsyncClient, resource: dict[str, Any]) -> str:
    response = await client.post(resource["resourceType"], json=resource)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def store_scan(
    client: httpx.AsyncClient, db: AsyncDatabase[Any], data: bytes = PNG
) -> StoredScan:
    """As ingestion stores one: ciphertext in the vault, a Binary naming it, whose
    securityContext is the patient's DocumentReference."""
    vault = ScanVault(db, KEY)
    await vault.ensure()
    sealed = vault.seal(data, "image/png")
    await vault.store(sealed)
    pid = await created(client, patient())
    document = {
        "resourceType": "DocumentReference",
        "status": "current",
        "subject": {"reference": f"Patient/{pid}"},
        "content": [{"attachment": {"contentType": "image/png"}}],
    }
    did = await created(client, document)
    bid = await created(client, binary("image/png", sealed.id, f"DocumentReference/{did}"))
    return StoredScan(pid, did, bid, sealed.id)


def patient_grant(pid: str, scope: str = "patient/*.read") -> Grant:
    return Grant(f"user-{pid}", "portal", scope, "patient", f"Patient/{pid}", pid)


async def test_a_scan_is_served_as_fhir_json_or_as_itself(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    scan = await store_scan(client, database(app, settings))
    url = f"Binary/{scan.binary}"

    for asked in ({"headers": {"Accept": FHIR_JSON}}, {"params": {"_format": "json"}}):
        response = await client.get(url, **asked)  # type: ignore[arg-type]
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith(FHIR_JSON)
        resource = response.json()
        assert base64.b64decode(resource["data"]) == PNG
        assert "_data" not in resource  # the pointer to the ciphertext is not served
        assert resource["securityContext"] == {"reference": f"DocumentReference/{scan.document}"}

    for accept in ("image/png", "*/*", "text/html,application/xml;q=0.9,*/*;q=0.8", None):
        headers = {"Accept": accept} if accept else {}
        raw = await client.get(url, headers=headers)
        assert raw.status_code == 200, (accept, raw.text)
        assert raw.content == PNG and raw.headers["content-type"] == "image/png"
        assert raw.headers["etag"] == 'W/"1"' and raw.headers["last-modified"].endswith("GMT")
        assert raw.headers["x-content-type-options"] == "nosniff"

    vread = await client.get(f"{url}/_history/1", headers={"Accept": "image/png"})
    assert vread.status_code == 200 and vread.content == PNG
    cached = await client.get(url, headers={"If-None-Match": 'W/"1"'})
    assert cached.status_code == 304 and cached.content == b""

    # Only a read decrypts: a search shows the Binary as stored.
    found = await client.get("Binary", params={"_id": scan.binary})
    [entry] = found.json()["entry"]
    assert "data" not in entry["resource"]
    assert entry["resource"]["_data"]["extension"][0]["url"] == BLOB_EXTENSION

    # Audited as any read.
    events = await client.get("AuditEvent", params={"entity": url, "_count": "50"})
    queries = [base64.b64decode(e["resource"]["entity"][-1]["query"]).decode()
               for e in events.json()["entry"]]  # fmt: skip
    assert f"GET {url}" in queries


async def test_a_patient_reads_only_the_scans_of_their_own_record(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    db = database(app, settings)
    mine = await store_scan(client, db)
    theirs = await store_scan(client, db, b"%PDF-1.7 someone else's")
    as_me = bearer(app, patient_grant(mine.patient))

    own = await client.get(f"Binary/{mine.binary}", headers={**as_me, "Accept": "image/png"})
    assert own.status_code == 200 and own.content == PNG
    for url in (f"Binary/{theirs.binary}", f"Binary/{theirs.binary}/_history/1",
                f"Binary/{theirs.binary}/_history"):  # fmt: skip
        refused = await client.get(url, headers={**as_me, "Accept": FHIR_JSON})
        assert refused.status_code == 404, url
        assert refused.json()["resourceType"] == "OperationOutcome"
        assert "someone" not in refused.text
    # A search cannot check each context: it shows this token no scan's Binary at all.
    searched = await client.get("Binary", headers=as_me)
    assert searched.status_code == 200 and not searched.json().get("entry")
    assert (await client.get("Binary/_history", headers=as_me)).status_code == 403
    system = await client.get("_history", headers=as_me)
    assert system.status_code == 200
    assert all(e["resource"]["resourceType"] != "Binary" for e in system.json().get("entry", []))

    # Nor replaced nor deleted by a token that may write Binaries.
    as_writer = bearer(app, patient_grant(mine.patient, "patient/*.*"))
    stolen = {"resourceType": "Binary", "id": theirs.binary, "contentType": "text/plain"}
    url = f"Binary/{theirs.binary}"
    assert (await client.put(url, json=stolen, headers=as_writer)).status_code == 404
    assert (await client.delete(url, headers=as_writer)).status_code == 404
    assert (await client.get(url, headers={"Accept": "application/pdf"})).content.startswith(
        b"%PDF"
    )

    # The Binary scope alone is not enough: the DocumentReference must be readable too.
    binary_only = bearer(app, patient_grant(mine.patient, "patient/Binary.read"))
    assert (await client.get(f"Binary/{mine.binary}", headers=binary_only)).status_code == 404


async def test_an_altered_scan_is_an_error_not_bytes(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    db = database(app, settings)
    scan = await store_scan(client, db)
    chunk = await db[COLLECTION].find_one({"blob": scan.blob})
    assert chunk is not None and PNG[:8] not in bytes(chunk["data"])  # ciphertext at rest
    altered = bytearray(chunk["data"])
    altered[100] ^= 0x01
    await db[COLLECTION].update_one({"_id": chunk["_id"]}, {"$set": {"data": bytes(altered)}})

    for accept in ("image/png", FHIR_JSON):
        response = await client.get(f"Binary/{scan.binary}", headers={"Accept": accept})
        assert response.status_code == 500, accept
        assert response.headers["content-type"].startswith(FHIR_JSON)
        outcome = response.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert "failed its integrity check" in outcome["issue"][0]["diagnostics"]

    await db[COLLECTION].delete_many({"blob": scan.blob})
    missing = await client.get(f"Binary/{scan.binary}")
    assert missing.status_code == 500 and "missing" in missing.text


async def test_a_binary_with_inline_data_is_read_as_before(client: httpx.AsyncClient) -> None:
    data = b"plain text, stored inline"
    body = {"resourceType": "Binary", "contentType": "text/plain",
            "data": base64.b64encode(data).decode()}  # fmt: skip
    bid = await created(client, body)

    resource = (await client.get(f"Binary/{bid}", headers={"Accept": FHIR_JSON})).json()
    assert {k: v for k, v in resource.items() if k not in ("id", "meta")} == body
    raw = await client.get(f"Binary/{bid}", headers={"Accept": "text/plain"})
    assert raw.content == data and raw.headers["content-type"].startswith("text/plain")
    assert raw.headers["content-security-policy"] == "sandbox"  # never run as this site's page
    xml = await client.get(f"Binary/{bid}", headers={"Accept": "application/fhir+xml"})
    assert xml.status_code == 406

    empty = await created(client, {"resourceType": "Binary", "contentType": "image/png"})
    nothing = await client.get(f"Binary/{empty}")  # no content to give: the resource
    assert nothing.status_code == 200 and nothing.json()["resourceType"] == "Binary"
