"""kill -9 of `medrec serve` (MLLP listener enabled) while a sender streams 500 messages over
four connections; after a restart the sender sends again every message it has no ACK for:
exactly 500 messages applied, none twice."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx
import pytest

from fhir_server.storage.embedded import free_port
from ingestion.hl7v2.ack import ack_code
from ingestion.hl7v2.mllp import Sender
from tests.e2e.server import RunningServer, start_server, stop_server
from tests.ingestion.hl7v2 import corpus

pytestmark = pytest.mark.slow
MESSAGES = 500
CONNECTIONS = 4
KILL_AFTER = 150  # acknowledged messages
PATIENTS = 20
OBSERVATIONS = 3


def _messages() -> dict[str, bytes]:
    return {
        f"CRASH{n:04d}": corpus.oru(
            f"CRASH{n:04d}", mrn=f"MRN-C{n % PATIENTS}", order=f"C{n}", observations=OBSERVATIONS
        ).encode()
        for n in range(MESSAGES)
    }


async def _stream(
    port: int, pending: list[str], messages: dict[str, bytes], acked: set[str]
) -> list[str]:
    """Send ``pending`` over CONNECTIONS connections until done or the listener dies; the ids
    left without an ACK."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for control in pending:
        queue.put_nowait(control)
    unacked: list[str] = []

    async def worker() -> None:
        try:
            sender = await Sender.connect("127.0.0.1", port)
        except OSError:
            return
        try:
            while not queue.empty():
                control = queue.get_nowait()
                try:
                    ack = await sender.send(messages[control], wait_s=60)
                except (OSError, asyncio.IncompleteReadError, ConnectionError):
                    unacked.append(control)  # in flight when the listener died
                    return
                assert ack_code(ack) == ("AA", control), ack
                acked.add(control)
        finally:
            await sender.close()

    await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
    return unacked + _drain(queue)


async def _acknowledged(acked: set[str], count: int) -> None:
    while len(acked) < count:  # noqa: ASYNC110  (a set filled by the workers)
        await asyncio.sleep(0.005)


def _drain(queue: asyncio.Queue[str]) -> list[str]:
    left = []
    while not queue.empty():
        left.append(queue.get_nowait())
    return left


def _start(data_dir: Path, port: int) -> RunningServer:
    data_dir.mkdir(parents=True, exist_ok=True)
    # start_server runs `medrec serve` in data_dir with no MEDREC_* variables: a .env there
    # is its configuration.
    (data_dir / ".env").write_text(
        f"MEDREC_HL7_MLLP_ENABLED=true\nMEDREC_HL7_PORT={port}\nMEDREC_AUTH=off\n"
    )
    return start_server(data_dir)


def _total(server: RunningServer, rtype: str) -> int:
    with httpx.Client(base_url=server.fhir_base + "/", trust_env=False, timeout=60) as http:
        found = http.get(rtype, params={"_summary": "count"})
        assert found.status_code == 200, found.text
        return int(found.json()["total"])


async def test_kill_9_mid_stream_then_resend_applies_each_message_once(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    messages = _messages()
    acked: set[str] = set()
    server = await asyncio.to_thread(_start, data_dir, port)
    stream = asyncio.create_task(_stream(port, list(messages), messages, acked))
    reached = asyncio.create_task(_acknowledged(acked, KILL_AFTER))
    await asyncio.wait({reached, stream}, return_when=asyncio.FIRST_COMPLETED)
    reached.cancel()
    code = await asyncio.to_thread(stop_server, server, signal.SIGKILL)
    assert code == -signal.SIGKILL
    left = await stream
    assert KILL_AFTER <= len(acked) < MESSAGES, "the stream finished before the kill"
    resend = [c for c in messages if c not in acked]
    assert set(left) == set(resend)  # every message is acknowledged or known to be unacked

    restarted = await asyncio.to_thread(_start, data_dir, port)
    try:
        assert await _stream(port, resend, messages, acked) == []
        assert acked == set(messages)
        totals = {
            rtype: await asyncio.to_thread(_total, restarted, rtype)
            for rtype in ("DiagnosticReport", "Observation", "Provenance", "Patient")
        }
        assert totals == {
            "DiagnosticReport": MESSAGES,
            "Observation": MESSAGES * OBSERVATIONS,
            "Provenance": MESSAGES,
            "Patient": PATIENTS,
        }
    finally:
        assert await asyncio.to_thread(stop_server, restarted) == 0
