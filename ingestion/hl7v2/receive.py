"""One message in, its ACK out: parse, recognise a repeat, map, commit (the FHIR resources,
the Provenance with the raw message and the message's key, in one transaction), acknowledge.
A message that cannot be applied is answered AE or AR and kept as a dead letter."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import tzinfo

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from fhir_server.bundles.conditional import matching_ids
from fhir_server.bundles.process import Processor
from fhir_server.errors import Conflict, FhirError, PreconditionFailed
from fhir_server.search.codes import CodeSets
from fhir_server.storage.repository import Repository
from fhir_server.storage.versions import Version
from ingestion.hl7v2.ack import ACCEPTED, ERROR, REJECTED, acknowledge
from ingestion.hl7v2.adt import map_adt
from ingestion.hl7v2.datatypes import sender_offset
from ingestion.hl7v2.draft import Context, Draft
from ingestion.hl7v2.errors import (
    DUPLICATE_KEY,
    INTERNAL,
    REQUIRED_MISSING,
    UNSUPPORTED_EVENT,
    UNSUPPORTED_TYPE,
    Hl7Error,
    rejected,
)
from ingestion.hl7v2.mdm import map_mdm
from ingestion.hl7v2.oru import map_oru
from ingestion.hl7v2.parse import Message, parse
from ingestion.hl7v2.provenance import add_provenance
from ingestion.hl7v2.store import MessageStore

log = logging.getLogger(__name__)
Mapper = Callable[[Message, Context], Awaitable[Draft]]
MAPPERS: dict[tuple[str, str], Mapper] = {
    ("ORU", "R01"): map_oru,
    ("MDM", "T02"): map_mdm,
    **{("ADT", event): map_adt for event in ("A01", "A03", "A04", "A08", "A40")},
}
MAX_REASON = 500
ATTEMPTS = 8  # a message that lost a write race is mapped and tried again
PRECONDITION_ATTEMPTS = 3


class Busy(Exception):
    """Not applied for now (write conflicts): no ACK, the sender sends it again."""


@dataclass(frozen=True)
class Received:
    acks: tuple[bytes, ...]  # to send in order (enhanced mode: accept, then application)
    outcome: str  # ACCEPTED | ERROR | REJECTED
    duplicate: bool = False
    error: Hl7Error | None = None

    @property
    def ack(self) -> bytes | None:
        """The last acknowledgement (the application's answer), if any is wanted."""
        return self.acks[-1] if self.acks else None


class Receiver:
    def __init__(
        self, repository: Repository, codes: CodeSets | None, store: MessageStore, zone: tzinfo
    ) -> None:
        self.repository = repository
        self.codes = codes
        self.store = store
        self.context = Context(zone, self._find)

    async def receive(self, raw: bytes) -> Received:
        """Database errors propagate, and ``Busy``: the message was not committed and must not
        be acknowledged (the sender sends it again)."""
        try:
            message = parse(raw)
        except Hl7Error as error:
            return await self._failed(raw, envelope(raw), error)
        for attempt in range(ATTEMPTS):
            try:
                return await self._apply(raw, message)
            except Conflict:
                pass
            except PreconditionFailed as error:
                # A version read for the message changed meanwhile (transient), or a condition
                # matches several resources (lasting): a few tries, then it is an error.
                if attempt >= PRECONDITION_ATTEMPTS - 1:
                    failure = Hl7Error(error.message[:MAX_REASON], INTERNAL)
                    return await self._failed(raw, message, failure)
            # Another message wrote the same resources (or this one) meanwhile: map again from
            # what is now committed (a repeat is then recognised).
            await asyncio.sleep(random.uniform(0, 0.02 * (attempt + 1)))  # noqa: S311
        raise Busy("the message kept conflicting with other writes")

    async def _apply(self, raw: bytes, message: Message) -> Received:
        try:
            mapper, key = self._route(message)
            seen = await self.store.applied(key)
            if seen is not None:
                return await self._repeat(raw, message, seen)
            draft = await mapper(message, self._context(message))
            add_provenance(draft, message)
            await self._commit(draft, key, message)
        except DuplicateKeyError:  # applied meanwhile, by another connection or node
            return await self._repeat(raw, message, await self.store.applied(key) or "")
        except Hl7Error as error:
            return await self._failed(raw, message, error)
        except (Conflict, PreconditionFailed):
            raise
        except FhirError as error:
            failure = Hl7Error(error.message[:MAX_REASON], INTERNAL)
            return await self._failed(raw, message, failure)
        return self._accepted(message)

    def _context(self, message: Message) -> Context:
        """Times sent without an offset are the sender's local time: MSH-7's offset when it
        has one, else the configured zone."""
        offset = sender_offset(message.msh.get(7))
        return self.context if offset is None else dataclasses.replace(self.context, zone=offset)

    def _route(self, message: Message) -> tuple[Mapper, str]:
        kind = (message.message_type, message.trigger)
        mapper = MAPPERS.get(kind)
        if mapper is None:
            known = any(t == kind[0] for t, _ in MAPPERS)
            code = UNSUPPORTED_EVENT if known else UNSUPPORTED_TYPE
            raise rejected(f"{'^'.join(kind)[:20]} messages are not supported", code, "MSH", 9)
        if not message.control_id:
            raise rejected("the message has no control id", REQUIRED_MISSING, "MSH", 10)
        return mapper, self.store.key(message.sender, message.control_id)

    async def _repeat(self, raw: bytes, message: Message, digest: str) -> Received:
        """A message whose key was applied: the same content again is acknowledged; other
        content under a reused MSH-10 is an error (kept as a dead letter, never dropped)."""
        if digest == message.content_digest:
            return self._accepted(message, duplicate=True)
        reason = "was already used for a message with other content"
        return await self._failed(raw, message, Hl7Error(reason, DUPLICATE_KEY, "MSH", 1, 10))

    async def _commit(self, draft: Draft, key: str, message: Message) -> None:
        async def record(session: AsyncClientSession) -> None:
            await self.store.record(key, message.message_type, message.content_digest, session)

        await Processor(self.repository, self.codes).transaction(draft.entries, within=record)

    def _accepted(self, message: Message, duplicate: bool = False) -> Received:
        return Received(acknowledge(message, ACCEPTED), ACCEPTED, duplicate)

    async def _failed(self, raw: bytes, message: Message | None, error: Hl7Error) -> Received:
        outcome = REJECTED if error.rejected else ERROR
        sender = message.sender if message else ""
        control = message.control_id if message else ""
        kind = f"{message.message_type}^{message.trigger}" if message else ""
        await self.store.dead_letter(raw, str(error)[:MAX_REASON], sender, control, kind)
        # The reason can quote what the sender sent: only where and what kind of failure.
        log.info("HL7 v2 message %s rejected (%s, %s)", control[:40], outcome, error.location)
        return Received(acknowledge(message, outcome, error), outcome, error=error)

    async def _find(self, rtype: str, query: str) -> Version | None:
        ids = await matching_ids(self.repository, rtype, query, self.codes)
        if len(ids) != 1:
            return None
        try:
            return await self.repository.read(rtype, ids[0])
        except FhirError:  # deleted meanwhile
            return None


def envelope(raw: bytes) -> Message | None:
    """The MSH segment alone, when the whole message does not parse: enough to address the ACK
    and give MSA-2."""
    first = raw.lstrip().replace(b"\n", b"\r").split(b"\r", 1)[0]
    try:
        return parse(first)
    except Hl7Error:
        return None
