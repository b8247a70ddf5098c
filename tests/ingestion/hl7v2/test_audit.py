"""Each HL7 v2 message over MLLP leaves an AuditEvent in the hash chain: who sent it, its
type and control id, and how it was acknowledged (never its content)."""

from __future__ import annotations

import asyncio
import base64

from fhir_server.config import Settings
from fhir_server.storage.embedded import free_port
from ingestion.hl7v2.mllp import END, frame
from ingestion.hl7v2.receive import Receiver
from ingestion.hl7v2.service import start_listener
from smart_auth.audit.trail import AuditTrail
from smart_auth.audit.verify import verify_chain
from tests.ingestion.hl7v2 import corpus


async def test_each_message_is_audited_with_its_sender_and_outcome(receiver: Receiver) -> None:
    trail = AuditTrail(receiver.repository)
    settings = Settings(mongodb_uri="unused", hl7_host="127.0.0.1", hl7_port=free_port())
    listener = await start_listener(settings, receiver, trail)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
        bad = corpus.oru("AUD2").replace("|NM|787-2^MCV^LN||89.4|", "|NM|787-2^MCV^LN||x|")
        for text in (corpus.oru("AUD1"), bad):
            writer.write(frame(text.encode()))
            await writer.drain()
            await asyncio.wait_for(reader.readuntil(END), 30)
        writer.close()
    finally:
        await listener.close()
    db = receiver.repository.collections.db
    events = [doc["res"] async for doc in db["AuditEvent"].find({}).sort("seq", 1)]
    assert [e["outcome"] for e in events] == ["0", "4"]  # AA, then AE
    sender = events[0]["agent"][0]["who"]["identifier"]["value"]
    assert sender == "LABSYS|GOODHEALTH"
    query = base64.b64decode(events[0]["entity"][-1]["query"]).decode()
    assert query == "MLLP hl7v2?ORU^R01 AUD1"
    assert "89.4" not in str(events)  # the content stays out of the trail
    verdict = await verify_chain(db)
    assert verdict.intact and verdict.checked == 2
