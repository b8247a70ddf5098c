"""The review queue's decisions (see docs/digitization.md, "Review queue"): a human accepts,
corrects or rejects a review ``Task`` that scan ingestion left (``resources.row_task``,
``resources.document_task``).

- A lab value accepted or corrected is checked as an automatic one is (``correction.py``);
  failing a check it is refused unless the reviewer overrides, which the Provenance records.
  It becomes an ``Observation`` (``derivedFrom`` the DocumentReference) added to the
  document's DiagnosticReport (``final`` once no value of the document waits for review).
- A document whose patient was in doubt, accepted, is attached to the Patient the reviewer
  names (its DocumentReference's ``subject``; ``docStatus`` final); one without a category
  gets the record category the reviewer chooses (``type`` and ``category`` as ingestion codes
  them), recorded in the Task's ``output``, and a lab report is then read again.
- Either way the Task is completed (``output``: what was written), and a ``Provenance`` names
  the ingestion Device (assembler) and the reviewer (verifier), all in one transaction. A
  rejected Task is closed with its reason and nothing else is written. A Task no longer open
  is a conflict (409), also when another reviewer closed it meanwhile.

Everything goes through the repository it is given: the request's, which enforces the
reviewer's access token.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from fhir_server.bundles.conditional import matching_ids
from fhir_server.bundles.process import Processor
from fhir_server.errors import (
    Conflict,
    Invalid,
    Issue,
    NotFound,
    PreconditionFailed,
    Unprocessable,
)
from fhir_server.search.codes import CodeSets
from fhir_server.storage.repository import Repository
from fhir_server.storage.versions import Version
from ingestion.hl7v2.draft import Draft
from ingestion.labels.colours import RECORD_CATEGORY
from ingestion.scans.commit import LAB_CATEGORY, Committer
from ingestion.scans.correction import LabValue, check_value
from ingestion.scans.document import bundled_categories, documents
from ingestion.scans.pipeline import FileReading
from ingestion.scans.resources import (
    DEVICE_QUERY,
    PARTICIPANT,
    TASK_CODE,
    device,
    document_codes,
    now,
    observation,
    provenance,
)
from ingestion.scans.vault import blob_of
from smart_auth.tokens import Grant

JsonObject = dict[str, Any]
OPEN = frozenset({"draft", "requested", "received", "accepted", "ready", "in-progress"})
USER_SYSTEM = "https://medrec.dev/fhir/sid/user"


@dataclass(frozen=True, slots=True)
class Correction:
    """What the reviewer sends with an acceptance; for a lab value, each field left out is the
    one read from the page. ``patient``: for a document, the Patient it belongs to;
    ``category``: its record category, when it has none."""

    code: str | None = None
    value: str | None = None
    unit: str | None = None
    range: str | None = None
    patient: str | None = None
    category: str | None = None
    override: bool = False
    note: str | None = None


def verifier(grant: Grant | None) -> JsonObject:
    """The reviewer as a Reference: their ``fhirUser`` (a Practitioner), else their user id."""
    if grant is None:
        return {"display": "local user (authorization off)"}
    if grant.fhir_user:
        return {"reference": grant.fhir_user}
    return {"identifier": {"system": USER_SYSTEM, "value": grant.subject}}


def inputs(task: JsonObject) -> dict[str, list[Any]]:
    """A review Task's inputs by their type's text, each a list of values (``value[x]``)."""
    found: dict[str, list[Any]] = {}
    for item in task.get("input", []):
        value = next((v for k, v in item.items() if k.startswith("value")), None)
        found.setdefault(str(item.get("type", {}).get("text", "")), []).append(value)
    return found


def is_review_task(task: JsonObject) -> bool:
    codings = task.get("code", {}).get("coding", [])
    focus = str(task.get("focus", {}).get("reference", ""))
    return any(c.get("system") == TASK_CODE for c in codings) and focus.startswith(
        "DocumentReference/"
    )


class Scans(Protocol):
    """What reads a stored scan again: the vault and threshold of ``committer``, and a page
    reader that runs where the ingestion pipeline runs (``jobs.JobRunner``)."""

    committer: Committer

    async def read_file(self, data: bytes) -> FileReading: ...


class Review:
    def __init__(
        self,
        repository: Repository,
        codes: CodeSets | None,
        scans: Callable[[], AbstractAsyncContextManager[Scans]] | None = None,
    ) -> None:
        self.repository = repository
        self.codes = codes
        self.scans = scans

    async def task(self, task_id: str) -> tuple[Version, JsonObject]:
        version, task = await self._read("Task", task_id)
        if not is_review_task(task):
            raise NotFound(f"Task/{task_id} is not a scan review task")
        return version, task

    async def accept(self, task_id: str, correction: Correction, who: JsonObject) -> JsonObject:
        version, task = await self._open(task_id)
        draft = Draft()
        if "printed test" in inputs(task):
            written, reasons = await self._lab_value(draft, task, correction)
        else:
            written, reasons = await self._document(draft, task, correction)
        done = {
            **_closed(task, "completed", who, correction.note),
            "output": [{"type": {"text": "written"}, "valueReference": {"reference": ref}}
                       for ref in written],
        }  # fmt: skip
        if "for" not in done and correction.patient is not None:
            done["for"] = {"reference": _patient_reference(correction.patient)}
        if correction.category is not None:  # the reviewer's decision, kept with the Task
            chosen = {"system": RECORD_CATEGORY, "code": correction.category}
            done["output"].append({"type": {"text": "record category"}, "valueCoding": chosen})
        draft.update(done, version)
        agent = draft.create(device(), if_none_exist=DEVICE_QUERY)
        focus = task["focus"]["reference"]
        record = provenance([*written, f"Task/{task_id}"], focus, agent)
        record["agent"].append({"type": _role("verifier"), "who": who})
        if reasons:  # overridden: what the checks said, and that a human decided otherwise
            record["reason"] = [{"text": "verifier override: " + "; ".join(reasons)}]
        draft.create(record)
        return await self._commit(draft, task_id)

    async def reject(self, task_id: str, reason: str, who: JsonObject) -> JsonObject:
        version, task = await self._open(task_id)
        draft = Draft()
        draft.update({**_closed(task, "rejected", who), "statusReason": {"text": reason}}, version)
        return await self._commit(draft, task_id)

    # -- a lab value -----------------------------------------------------------------------------

    async def _lab_value(
        self, draft: Draft, task: JsonObject, correction: Correction
    ) -> tuple[list[str], tuple[str, ...]]:
        if correction.category is not None:
            raise Unprocessable("A category is chosen for a document, not for a lab value")
        subject = task.get("for", {}).get("reference")
        if subject is None:
            raise Unprocessable("The document of this value has no patient yet")
        typed = [name for name in ("value", "range") if getattr(correction, name) is not None]
        checked = check_value(_lab_value(inputs(task), correction), typed)
        if checked.reasons and not correction.override:
            issues = [Issue("business-rule", reason) for reason in checked.reasons]
            raise Unprocessable("The value fails the checks (send override to keep it)", issues)
        focus = task["focus"]["reference"]
        _, document = await self._read(*focus.split("/", 1))
        collected = document.get("context", {}).get("period", {}).get("start")
        value = draft.create(observation(checked.result, subject, focus, collected))
        written = [value]
        report = await self._report(focus)
        if report is not None:
            written.append(await self._add_result(draft, report, value, focus, task))
        return written, checked.reasons

    async def _report(self, focus: str) -> tuple[Version, JsonObject] | None:
        """The DiagnosticReport written from the document: a target of the Provenance whose
        source is the document."""
        for rid in await matching_ids(
            self.repository, "Provenance", f"entity={focus}", self.codes, limit=10
        ):
            _, record = await self._read("Provenance", rid)
            for target in record.get("target", []):
                rtype, _, report_id = str(target.get("reference", "")).partition("/")
                if rtype == "DiagnosticReport":
                    return await self._read(rtype, report_id)
        return None

    async def _add_result(
        self,
        draft: Draft,
        report: tuple[Version, JsonObject],
        value: str,
        focus: str,
        task: JsonObject,
    ) -> str:
        version, resource = report
        waiting = await matching_ids(
            self.repository, "Task", f"focus={focus}&status=requested", self.codes, limit=2
        )
        others = [rid for rid in waiting if rid != task["id"]]
        updated = {
            **_without_meta(resource),
            "result": [*resource.get("result", []), {"reference": value}],
            "status": "partial" if others else "final",
        }
        draft.update(updated, version)
        return f"DiagnosticReport/{version.id}"

    # -- a whole document --------------------------------------------------------------------------

    async def _document(
        self, draft: Draft, task: JsonObject, correction: Correction
    ) -> tuple[list[str], tuple[str, ...]]:
        _check_category(correction.category)
        if correction.patient is None:
            raise Unprocessable("Accepting a document needs the patient it belongs to")
        patient = _patient_reference(correction.patient)
        try:
            await self._read(*patient.split("/", 1))
        except NotFound:
            raise Unprocessable(f"No {patient}") from None
        focus = task["focus"]["reference"]
        version, document = await self._read(*focus.split("/", 1))
        attached = {**_without_meta(document), "subject": {"reference": patient},
                    "docStatus": "final"}  # fmt: skip
        category = _category(document)
        if correction.category is not None and correction.category != category:
            if category is not None:  # read with certainty: not the review's to change
                raise Unprocessable(f"The document's category is already {category}")
            category = correction.category
            attached.update(document_codes(category))
        draft.update(attached, version)
        written = [focus]
        if category == LAB_CATEGORY:
            written += await self._lab_report(draft, document, patient, focus)
        return written, ()

    async def _lab_report(
        self, draft: Draft, document: JsonObject, patient: str, focus: str
    ) -> list[str]:
        """Nothing was read from a document whose patient was in doubt: read its scan again and
        write what a confirmed one gets (report, sure values, a Task for each other value)."""
        if self.scans is None:
            raise Unprocessable("Reading scans again is not available here")
        attachment = document["content"][0]["attachment"]
        _, binary = await self._read(*str(attachment["url"]).split("/", 1))
        blob = blob_of(binary)
        async with self.scans() as scans:
            data = await scans.committer.vault.get(blob) if blob else None
            if data is None:
                raise Unprocessable(f"The scan of {focus} cannot be read from the vault")
            reading = await scans.read_file(data)
            committer = Committer(
                self.repository, self.codes, scans.committer.vault,
                threshold=scans.committer.threshold,
            )  # fmt: skip
        written = []
        for scanned in documents(reading):
            written += committer.draft_lab(draft, scanned, patient, focus, attachment)
        return written

    # -- reading and writing -----------------------------------------------------------------------

    async def _read(self, rtype: str, rid: str) -> tuple[Version, JsonObject]:
        version = await self.repository.read(rtype, rid)
        if version.body is None:
            raise NotFound(f"{rtype}/{rid} is deleted")
        resource: JsonObject = orjson.loads(version.body)
        return version, resource

    async def _open(self, task_id: str) -> tuple[Version, JsonObject]:
        version, task = await self.task(task_id)
        if task.get("status") not in OPEN:
            raise Conflict(f"Task/{task_id} is already {task.get('status')}")
        return version, task

    async def _commit(self, draft: Draft, task_id: str) -> JsonObject:
        try:
            outcomes = await Processor(self.repository, self.codes).transaction(draft.entries)
        except PreconditionFailed:
            raise Conflict(f"Task/{task_id} was changed meanwhile: read it again") from None
        for entry, outcome in zip(draft.entries, outcomes, strict=True):
            if (entry.rtype, entry.rid) == ("Task", task_id) and outcome.version:
                assert outcome.version.body is not None
                stored: JsonObject = orjson.loads(outcome.version.body)
                return stored
        raise AssertionError("the transaction wrote no Task")


def _lab_value(read: dict[str, list[Any]], correction: Correction) -> LabValue:
    """The reviewer's fields, else the candidate's (test, UCUM unit), else the printed text."""
    candidate_test = _first(read, "candidate test") or {}
    candidate_value = _first(read, "candidate value") or {}
    code = correction.code or candidate_test.get("code")
    value = correction.value or _first(read, "printed value")
    unit = correction.unit or candidate_value.get("code") or _first(read, "printed unit")
    missing = [name for name, given in (("code", code), ("value", value), ("unit", unit))
               if not given]  # fmt: skip
    if missing:
        issues = [Issue("required", f"{name}: not read from the page: give it") for name in missing]
        raise Unprocessable("The value is incomplete", issues)
    assert code and value and unit
    reference = correction.range or _first(read, "candidate reference range")
    return LabValue(code, value, unit, reference or _first(read, "printed reference range"))


def _first(read: dict[str, list[Any]], kind: str) -> Any:
    values = read.get(kind) or [None]
    return values[0]


def _closed(task: JsonObject, status: str, who: JsonObject, note: str | None = None) -> JsonObject:
    closed = {**_without_meta(task), "status": status, "lastModified": now(), "owner": who}
    if note:
        closed["note"] = [*task.get("note", []), {"text": note, "time": now()}]
    return closed


def _without_meta(resource: JsonObject) -> JsonObject:
    return {k: v for k, v in resource.items() if k != "meta"}


def _patient_reference(patient: str) -> str:
    return patient if patient.startswith("Patient/") else f"Patient/{patient}"


def _category(document: JsonObject) -> str | None:
    for concept in document.get("category", []):
        for coding in concept.get("coding", []):
            if coding.get("system") == RECORD_CATEGORY:
                return str(coding.get("code"))
    return None


def _check_category(category: str | None) -> None:
    """A chosen category must be a record category (what ``medrec labels`` prints)."""
    known = bundled_categories().known
    if category is not None and category not in known:
        listed = ", ".join(sorted(known))
        text = f"category: {category[:64]!r} is not a record category: one of {listed}"
        issue = Issue("code-invalid", text, expression=("category",))
        raise Invalid("Unknown record category", [issue])


def _role(code: str) -> JsonObject:
    return {"coding": [{"system": PARTICIPANT, "code": code}]}
