"""kill -9 of `medrec serve` in the middle of a large transaction: after a restart none of the
transaction's resources exist (one MongoDB transaction, never committed)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.server import database_processes, start_server, stop_server

pytestmark = pytest.mark.slow
# The most a transaction may have (MEDREC_MAX_BUNDLE_ENTRIES): ≈ 6 s of writing on a fast
# machine. 4,000 entries used to be "far longer" than the kill's delay; since creates are
# pipelined they commit in ≈ 2.5 s, and the test killed a medrec that had just committed.
ENTRIES = 10_000
DATABASE_WORK_S = 0.3  # database CPU since the POST: the transaction's writes are under way
TAG = {"system": "urn:medrec:test", "code": "crash-transaction"}


def _bundle() -> dict[str, Any]:
    patient_url = "urn:uuid:00000000-0000-4000-8000-000000000000"
    entries: list[dict[str, Any]] = [{
        "fullUrl": patient_url,
        "resource": {"resourceType": "Patient", "meta": {"tag": [TAG]}, "gender": "female"},
        "request": {"method": "POST", "url": "Patient"},
    }]  # fmt: skip
    for n in range(ENTRIES - 1):
        entries.append({
            "resource": {
                "resourceType": "Observation", "status": "final", "meta": {"tag": [TAG]},
                "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                "subject": {"reference": patient_url},
                "valueQuantity": {"value": 60 + n % 40, "unit": "/min",
                                  "system": "http://unitsofmeasure.org", "code": "/min"},
            },
            "request": {"method": "POST", "url": "Observation"},
        })  # fmt: skip
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def database_cpu_s(data_dir: Path) -> float:
    """CPU seconds the embedded database of ``data_dir`` has used (Linux /proc)."""
    ticks = 0
    for database in database_processes(data_dir):
        fields = Path(f"/proc/{database.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def test_kill_9_mid_transaction_leaves_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = start_server(data_dir)
    outcome: dict[str, Any] = {}

    def post() -> None:
        try:
            with httpx.Client(timeout=120, trust_env=False, headers=server.admin_headers()) as http:
                outcome["status"] = http.post(server.fhir_base, json=_bundle()).status_code
        except httpx.TransportError as error:  # the server died under the request
            outcome["error"] = type(error).__name__

    before = database_cpu_s(data_dir)
    sender = threading.Thread(target=post)
    sender.start()
    deadline = time.monotonic() + 60
    while database_cpu_s(data_dir) - before < DATABASE_WORK_S and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "status" not in outcome, "the transaction finished before the kill: make it larger"
    assert stop_server(server, signal.SIGKILL) == -signal.SIGKILL
    sender.join(30)
    assert "error" in outcome, outcome
    restarted = start_server(data_dir)
    try:
        with httpx.Client(
            base_url=restarted.fhir_base + "/",
            trust_env=False,
            headers=restarted.admin_headers(),
        ) as http:
            for rtype in ("Patient", "Observation"):
                params = {"_tag": f"{TAG['system']}|{TAG['code']}", "_summary": "count"}
                found = http.get(rtype, params=params)
                assert found.status_code == 200, found.text
                assert found.json()["total"] == 0, f"{rtype}: part of the transaction survived"
            # and the server still writes normally
            created = http.post("Patient", json={"resourceType": "Patient", "gender": "male"})
            assert created.status_code == 201
    finally:
        assert stop_server(restarted) == 0
