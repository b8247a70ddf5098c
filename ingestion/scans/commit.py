"""Step 9: one scanned document → FHIR, in one transaction (see docs/digitization.md, "From a
document to FHIR").

Always: the scan as a ``Binary`` whose bytes are AES-256-GCM ciphertext in the scan vault
(``vault.py``; the Binary has no ``data``), a ``DocumentReference`` pointing at it (with the
OCR text as a second, ``text/plain`` content), a ``Provenance`` for everything written (agent:
the "medrec ingestion" ``Device``, created once). With the patient confirmed: the document's
``subject``; for a lab report, a ``DiagnosticReport`` (``presentedForm`` → the same Binary) and
one ``Observation`` per lab row that passed every check with a value confidence at or above the
threshold. Every other row is a review ``Task``; so is a document whose patient, category or
pages are in doubt: it is then stored without a subject (in no patient's record) and nothing
is read from it. No uncertain value is ever committed.

The document id (``DOCUMENT_ID_SYSTEM``) is claimed in the same transaction (a unique key in
``medrec_scan_documents``): a document id already stored is refused (``DuplicateDocument``),
unless it was stored from the same file and document, which is then recognised as done (a
job that resumes after a crash commits nothing twice).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import CollectionInvalid, DuplicateKeyError

from fhir_server.bundles.conditional import matching_ids
from fhir_server.bundles.process import Processor
from fhir_server.search.codes import CodeSets
from fhir_server.storage.repository import Repository
from ingestion.hl7v2.draft import Draft, identifier_query
from ingestion.scans.checks import VALUE_THRESHOLD
from ingestion.scans.document import ScannedDocument
from ingestion.scans.patient import match_patient
from ingestion.scans.resources import (
    DEVICE_QUERY,
    binary,
    device,
    diagnostic_report,
    document_reference,
    document_task,
    observation,
    provenance,
    row_task,
)
from ingestion.scans.vault import ScanVault, SealedBlob

DOCUMENT_ID_SYSTEM = "https://medrec.dev/fhir/sid/scan-document-id"
KEYS = "medrec_scan_documents"
LAB_CATEGORY = "lab-results"


class DuplicateDocument(Exception):
    """The document id is already stored (from another file or document)."""


@dataclass(frozen=True, slots=True)
class Committed:
    document_id: str
    document_reference: str | None  # None: recognised as committed before
    patient: str | None  # the confirmed Patient's id
    review: bool  # the whole document went to review
    created: dict[str, list[str]] = field(default_factory=dict)  # type → ids
    already: bool = False

    @property
    def observations(self) -> int:
        return len(self.created.get("Observation", []))

    @property
    def tasks(self) -> int:
        return len(self.created.get("Task", []))


@dataclass(frozen=True, slots=True)
class Scan:
    """The bytes a document is stored as, and where they came from."""

    content: bytes
    content_type: str
    source: str  # the file's SHA-256 and the document's number: "<sha256>#<n>"
    title: str | None = None


class Committer:
    def __init__(
        self,
        repository: Repository,
        codes: CodeSets | None,
        vault: ScanVault,
        *,
        threshold: float = VALUE_THRESHOLD,
    ) -> None:
        self.repository = repository
        self.codes = codes
        self.vault = vault
        self.threshold = threshold
        self._keys = repository.collections.db[KEYS]

    @property
    def db(self) -> AsyncDatabase[Any]:
        return self.repository.collections.db

    async def ensure(self) -> None:
        """The vault's and the keys' collections exist before a transaction writes to them."""
        await self.vault.ensure()
        if KEYS not in await self.db.list_collection_names():
            with contextlib.suppress(CollectionInvalid):  # created meanwhile by another process
                await self.db.create_collection(KEYS)

    async def commit(self, document: ScannedDocument, scan: Scan) -> Committed:
        document_id = document.document_id or _assigned_id(scan)
        earlier = await self._earlier(document_id, scan.source)
        if earlier is not None:
            return earlier
        patient, reasons = None, list(document.reasons)
        if document.mrn is not None and not document.needs_review:
            match = await match_patient(self.repository, self.codes, document.mrn, document.pages)
            patient, reasons = match.patient_id, list(match.reasons)
        draft, blob = self._draft(document, document_id, scan, patient, reasons)

        async def claim(session: AsyncClientSession) -> None:
            key = {"_id": document_id, "source": scan.source, "at": datetime.now(UTC)}
            await self._keys.insert_one(key, session=session)
            await self.vault.store(blob, session)

        try:
            processor = Processor(self.repository, self.codes)
            outcomes = await processor.transaction(draft.entries, within=claim)
        except DuplicateKeyError:
            earlier = await self._earlier(document_id, scan.source)
            if earlier is not None:
                return earlier
            raise DuplicateDocument(f"document id {document_id} is already stored") from None
        created: dict[str, list[str]] = {}
        reference = None
        for entry, outcome in zip(draft.entries, outcomes, strict=True):
            if outcome.version is not None and outcome.status.startswith("201"):
                created.setdefault(entry.rtype, []).append(outcome.version.id)
                if entry.rtype == "DocumentReference":
                    reference = outcome.version.id
        return Committed(document_id, reference, patient, bool(reasons), created)

    async def _earlier(self, document_id: str, source: str) -> Committed | None:
        """None: not stored yet. Stored from ``source``: done before. Else refused."""
        key = await self._keys.find_one({"_id": document_id})
        if key is not None:
            if key.get("source") == source:
                return Committed(document_id, None, None, False, already=True)
            raise DuplicateDocument(f"document id {document_id} is already stored")
        query = identifier_query({"system": DOCUMENT_ID_SYSTEM, "value": document_id})
        if await matching_ids(self.repository, "DocumentReference", query, self.codes, limit=1):
            raise DuplicateDocument(f"document id {document_id} is already stored")
        return None

    def _draft(
        self,
        document: ScannedDocument,
        document_id: str,
        scan: Scan,
        patient: str | None,
        reasons: list[str],
    ) -> tuple[Draft, SealedBlob]:
        draft = Draft()
        blob = self.vault.seal(scan.content, scan.content_type)
        subject = f"Patient/{patient}" if patient else None
        agent = draft.create(device(), if_none_exist=DEVICE_QUERY)
        reference_url = draft.create({"resourceType": "DocumentReference"})  # filled below
        reference_entry = draft.entries[-1]
        binary_url = draft.create(binary(scan.content_type, blob.id, reference_url))
        attachment = _attachment(scan, binary_url)
        text = "\n\n".join(page.text for page in document.pages)
        header = _header(document)
        reference_entry.resource = document_reference(
            document_id, DOCUMENT_ID_SYSTEM, document.category, subject, attachment, text,
            agent, header.get("collected"), reviewed=not reasons,
        )  # fmt: skip
        if reasons:
            draft.create(document_task(reference_url, subject, reasons, document))
        elif document.category == LAB_CATEGORY and subject is not None:
            self.draft_lab(draft, document, subject, reference_url, attachment)
        targets = [str(e.full_url) for e in draft.entries if e.rtype != "Device"]
        draft.create(provenance(targets, reference_url, agent))
        return draft, blob

    def draft_lab(
        self,
        draft: Draft,
        document: ScannedDocument,
        subject: str,
        reference: str,
        attachment: dict[str, Any],
    ) -> list[str]:
        """A lab report's DiagnosticReport, the Observations sure enough to commit and a review
        Task for every other row, added to ``draft``: their placeholders. Also used when a
        document accepted from review is read again (``verify.py``)."""
        header = _header(document)
        start = len(draft.entries)
        results, review = [], 0
        for page in document.pages:
            assert page.decision is not None
            for row in page.decision.rows:
                value = row.row.value
                confident = value is not None and value.confidence >= self.threshold
                if row.accepted and row.result is not None and confident:
                    resource = observation(row.result, subject, reference, header.get("collected"))
                    results.append(draft.create(resource))
                else:
                    review += 1
                    draft.create(row_task(row, page.index, reference, subject, self.threshold))
        status = "partial" if review else "final"
        draft.create(
            diagnostic_report(subject, results, attachment, status, header.get("collected"))
        )
        return [str(entry.full_url) for entry in draft.entries[start:]]


def _assigned_id(scan: Scan) -> str:
    """A document printed without an id: one from the file and the document's place in it
    (the same file read again gets the same id)."""
    return "SCAN-" + hashlib.sha256(scan.source.encode()).hexdigest()[:20].upper()


def _attachment(scan: Scan, url: str) -> dict[str, Any]:
    attachment: dict[str, Any] = {
        "contentType": scan.content_type,
        "size": len(scan.content),
        # FHIR: "The calculated hash of the data using SHA-1. Represented using base64."
        "hash": base64.b64encode(hashlib.sha1(scan.content).digest()).decode("ascii"),  # noqa: S324
        "url": url,
        "creation": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if scan.title:
        attachment["title"] = scan.title
    return attachment


def _header(document: ScannedDocument) -> dict[str, str]:
    """Accepted header values every page agrees on, as FHIR dates (collected only for now)."""
    found: dict[str, set[str]] = {}
    for page in document.pages:
        assert page.decision is not None
        decision = page.decision.header.get("collected")
        if decision is not None and decision.accepted and decision.value is not None:
            found.setdefault("collected", set()).add(str(decision.value))
    return {name: next(iter(values)) for name, values in found.items() if len(values) == 1}
