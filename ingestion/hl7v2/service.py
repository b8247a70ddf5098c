"""The feed as the app and the CLI run it: a Receiver over the wired repository, and the MLLP
listener configured from settings."""

from __future__ import annotations

import asyncio
from typing import Any
from zoneinfo import ZoneInfo

from fhir_server.config import Settings
from fhir_server.search.codes import CodeSets
from fhir_server.storage.repository import Repository
from ingestion.hl7v2.ack import ACCEPTED, REJECTED
from ingestion.hl7v2.mllp import Limits, Listener, tls_context
from ingestion.hl7v2.receive import Received, Receiver, envelope
from ingestion.hl7v2.store import MessageStore
from smart_auth.audit.events import Request, audit_event
from smart_auth.audit.trail import AuditTrail
from terminology.lab_matcher import default_matcher


async def open_receiver(
    settings: Settings, repository: Repository, codes: CodeSets | None
) -> Receiver:
    store = MessageStore(repository.collections.db)
    await store.ensure()
    # The lab test catalogue (local codes → LOINC) takes seconds to build: not on a message.
    await asyncio.to_thread(default_matcher)
    return Receiver(repository, codes, store, ZoneInfo(settings.hl7_timezone))


async def start_listener(
    settings: Settings, receiver: Receiver, trail: AuditTrail | None = None
) -> Listener:
    """``trail``: where each message leaves its AuditEvent (after its ACK is decided, before
    it is sent)."""
    tls = None
    if settings.hl7_tls_cert is not None and settings.hl7_tls_key is not None:
        tls = tls_context(settings.hl7_tls_cert, settings.hl7_tls_key, settings.hl7_tls_client_ca)
    limits = Limits(
        settings.hl7_max_message_bytes, settings.hl7_read_timeout_s, settings.hl7_idle_timeout_s
    )

    async def handle(raw: bytes) -> tuple[bytes, ...]:
        received = await receiver.receive(raw)
        if trail is not None:
            await trail.record(feed_event(raw, received))
        return received.acks

    listener = Listener(handle, limits, settings.hl7_host, settings.hl7_port, tls)
    await listener.start()
    return listener


async def start_mllp(
    settings: Settings, repository: Repository, codes: CodeSets | None, trail: AuditTrail
) -> Listener:
    """For the app's lifespan (``MEDREC_HL7_MLLP_ENABLED``)."""
    receiver = await open_receiver(settings, repository, codes)
    return await start_listener(settings, receiver, trail)


def feed_event(raw: bytes, received: Received) -> dict[str, Any]:
    """One message's AuditEvent: its sender, type, control id and outcome (no content)."""
    message = envelope(raw)
    described = "?"
    sender = "unknown sender"
    if message is not None:
        sender = message.sender
        described = f"{message.message_type}^{message.trigger} {message.control_id}"[:200]
    status = {ACCEPTED: 200, REJECTED: 400}.get(received.outcome, 422)
    request = Request("MLLP", "hl7v2", described, status, None, None)
    return audit_event(request, None, [], sender=sender)
