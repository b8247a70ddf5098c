"""`medrec hl7 dead-letters [--retry]` and `medrec hl7 listen`, run as subprocesses against the
session's database."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import BinaryIO

from fhir_server.storage.embedded import free_port
from ingestion.hl7v2.ack import ack_code
from ingestion.hl7v2.mllp import Sender
from ingestion.hl7v2.receive import Receiver
from tests.ingestion.hl7v2 import corpus
from tests.ingestion.hl7v2.support import counts

ROOT = Path(__file__).resolve().parents[3]


def _env(mongodb_uri: str, database: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDREC_")}
    env.update(MEDREC_MONGODB_URI=mongodb_uri, MEDREC_DATABASE=database, COLUMNS="200", **extra)
    return env


def _medrec(mongodb_uri: str, database: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = _env(mongodb_uri, database)
    return subprocess.run(
        [sys.executable, "-m", "fhir_server.cli", "hl7", *args],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
    )  # fmt: skip


async def test_dead_letters_listed_then_retried(
    receiver: Receiver, mongodb_uri: str, database_name: str
) -> None:
    # A merge of a patient not known yet: fails now, succeeds once the patient exists.
    merge = corpus.merge("DL1", survivor="MRN-S", losing="MRN-L").encode()
    assert (await receiver.receive(merge)).outcome == "E"
    assert (await receiver.receive(b"garbage")).outcome == "R"
    listed = _medrec(mongodb_uri, database_name, "dead-letters")
    assert listed.returncode == 0, listed.stderr
    assert "DL1" in listed.stdout and "MRG-1" in listed.stdout

    assert (await receiver.receive(corpus.adt("A04", "DL0", mrn="MRN-L").encode())).outcome == "A"
    retried = _medrec(mongodb_uri, database_name, "dead-letters", "--retry")
    assert retried.returncode == 1, retried.stdout  # the garbage still fails
    assert "applied" in retried.stdout
    (left,) = await receiver.store.dead_letters()
    assert left.control_id == "" and left.attempts == 2
    assert (await counts(receiver, "Patient"))["Patient"] == 2


async def test_listen_serves_mllp_until_sigterm(
    receiver: Receiver, mongodb_uri: str, database_name: str, tmp_path: Path
) -> None:
    port = free_port()
    env = _env(mongodb_uri, database_name, MEDREC_HL7_PORT=str(port))
    log = (tmp_path / "listen.log").open("wb")
    process = _spawn(env, log)
    try:
        sender = await _connect(port, process)
        try:
            ack = await sender.send(corpus.oru("LISTEN1").encode())
        finally:
            await sender.close()
        assert ack_code(ack) == ("AA", "LISTEN1")
        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()
    assert (await counts(receiver, "DiagnosticReport"))["DiagnosticReport"] == 1


def _spawn(env: dict[str, str], log: BinaryIO) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "fhir_server.cli", "hl7", "listen"],
        env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


async def _connect(port: int, process: subprocess.Popen[bytes]) -> Sender:
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, "medrec hl7 listen exited"
        try:
            return await Sender.connect("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
