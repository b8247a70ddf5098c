"""ORU^R01 (unsolicited observation result) → Patient (matched by PID-3, created if absent),
Encounter (PV1), ServiceRequest (ORC + OBR), DiagnosticReport (OBR), Observation (OBX),
Specimen (SPM), notes (NTE on the segment they follow)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ingestion.hl7v2 import datatypes as dt
from ingestion.hl7v2.draft import Context, Draft
from ingestion.hl7v2.encounter import encounter, visit_query
from ingestion.hl7v2.errors import REQUIRED_MISSING, SEGMENT_SEQUENCE, Hl7Error
from ingestion.hl7v2.observation import observation
from ingestion.hl7v2.parse import Message, Segment
from ingestion.hl7v2.patient import match_query, patient

JsonObject = dict[str, Any]
# OBR-25 result status (table 0123) → DiagnosticReport.status.
REPORT_STATUS = {
    "O": "registered",
    "I": "registered",
    "S": "partial",
    "A": "partial",
    "P": "preliminary",
    "R": "partial",
    "C": "corrected",
    "F": "final",
    "X": "cancelled",
}
# ORC-5 order status (table 0038) → ServiceRequest.status.
ORDER_STATUS = {"CM": "completed", "CA": "revoked", "DC": "revoked", "HD": "on-hold"}
PLACER = {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "PLAC"}
FILLER = {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "FILL"}


@dataclass
class _Group:
    """One OBR and what hangs off it."""

    order: JsonObject
    report: JsonObject
    observations: list[JsonObject] = field(default_factory=list)
    specimens: list[JsonObject] = field(default_factory=list)


@dataclass
class _Walk:
    context: Context
    draft: Draft = field(default_factory=Draft)
    subject: str | None = None
    encounter: str | None = None
    orc: Segment | None = None
    groups: list[_Group] = field(default_factory=list)
    noted: JsonObject | None = None  # the resource an NTE adds its note to


async def map_oru(message: Message, context: Context) -> Draft:
    walk = _Walk(context)
    for segment in message.segments[1:]:
        handler = _HANDLERS.get(segment.name)
        if handler is not None:
            handler(walk, segment)
    if walk.subject is None:
        raise Hl7Error("the message has no PID segment", REQUIRED_MISSING, "PID")
    if not walk.groups:
        raise Hl7Error("the message has no OBR segment", REQUIRED_MISSING, "OBR")
    for group in walk.groups:
        _add(walk.draft, group)
    return walk.draft


def _pid(walk: _Walk, pid: Segment) -> None:
    found = patient(pid, walk.context)
    walk.subject = walk.draft.create(found, if_none_exist=match_query(pid))
    walk.encounter, walk.noted = None, None


def _pv1(walk: _Walk, pv1: Segment) -> None:
    subject = _subject(walk, pv1)
    query = visit_query(pv1)
    if query is not None:  # without a visit number there is nothing to match a later ADT by
        visit = encounter(pv1, subject, "unknown", walk.context)
        walk.encounter = walk.draft.create(visit, if_none_exist=query)


def _orc(walk: _Walk, orc: Segment) -> None:
    walk.orc = orc


def _obr(walk: _Walk, obr: Segment) -> None:
    subject = _subject(walk, obr)
    code = dt.codeable(obr.value(4))
    if code is None:
        raise Hl7Error(
            "has no universal service identifier", REQUIRED_MISSING, "OBR", obr.sequence, 4
        )
    zone, where = walk.context.zone, ("OBR", obr.sequence, 0)
    order: JsonObject = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "code": code,
        "subject": {"reference": subject},
    }
    report: JsonObject = {
        "resourceType": "DiagnosticReport",
        "status": REPORT_STATUS.get(obr.get(25), "unknown"),
        "code": code,
        "subject": {"reference": subject},
    }
    orc = walk.orc
    placer, filler = (_order_number(obr, orc, n) for n in (2, 3))
    identifiers = [
        {**i, "type": {"coding": [kind]}} for i, kind in ((placer, PLACER), (filler, FILLER)) if i
    ]
    if identifiers:
        order["identifier"] = identifiers
    if filler:
        report["identifier"] = [filler]
    if orc is not None and orc.get(5) in ORDER_STATUS:
        order["status"] = ORDER_STATUS[orc.get(5)]
    requester = dt.person_reference(obr.value(16))
    if requester:
        order["requester"] = requester
    effective = dt.date_time(obr.get(7), zone, (where[0], where[1], 7))
    if effective:
        report["effectiveDateTime"] = effective
    issued = dt.instant(obr.get(22), zone, (where[0], where[1], 22))
    if issued:
        report["issued"] = issued
    if walk.encounter:
        for resource in (order, report):
            resource["encounter"] = {"reference": walk.encounter}
    walk.groups.append(_Group(order, report))
    walk.noted = order
    walk.orc = None


def _order_number(obr: Segment, orc: Segment | None, number: int) -> JsonObject | None:
    """OBR-2/3 (placer/filler order number), or ORC-2/3 when OBR leaves it empty."""
    found = dt.entity_identifier(obr.value(number))
    if found is None and orc is not None:
        found = dt.entity_identifier(orc.value(number))
    return found


def _obx(walk: _Walk, obx: Segment) -> None:
    if not walk.groups:
        raise Hl7Error("OBX before any OBR", SEGMENT_SEQUENCE, "OBX", obx.sequence)
    group = walk.groups[-1]
    found = observation(obx, _subject(walk, obx), walk.context)
    if "effectiveDateTime" not in found and "effectiveDateTime" in group.report:
        found["effectiveDateTime"] = group.report["effectiveDateTime"]
    if walk.encounter:
        found["encounter"] = {"reference": walk.encounter}
    group.observations.append(found)
    walk.noted = found


def _nte(walk: _Walk, nte: Segment) -> None:
    text = "\n".join(v.text for v in nte.repetitions(3))
    if walk.noted is not None and text:
        walk.noted.setdefault("note", []).append({"text": text})


def _spm(walk: _Walk, spm: Segment) -> None:
    if not walk.groups:
        raise Hl7Error("SPM before any OBR", SEGMENT_SEQUENCE, "SPM", spm.sequence)
    specimen: JsonObject = {
        "resourceType": "Specimen",
        "subject": {"reference": _subject(walk, spm)},
    }
    ids = [dt.entity_identifier(spm.value(2).part(n)) for n in (1, 2)]
    if any(ids):
        specimen["identifier"] = [i for i in ids if i]
    kind = dt.codeable(spm.value(4))
    if kind:
        specimen["type"] = kind
    zone = walk.context.zone
    collected = dt.date_time(spm.get(17), zone, ("SPM", spm.sequence, 17))
    if collected:
        specimen["collection"] = {"collectedDateTime": collected}
    received = dt.date_time(spm.get(18), zone, ("SPM", spm.sequence, 18))
    if received:
        specimen["receivedTime"] = received
    walk.groups[-1].specimens.append(specimen)
    walk.noted = None


def _subject(walk: _Walk, segment: Segment) -> str:
    if walk.subject is None:
        raise Hl7Error(
            "comes before the PID segment", SEGMENT_SEQUENCE, segment.name, segment.sequence
        )
    return walk.subject


def _add(draft: Draft, group: _Group) -> None:
    order = draft.create(group.order)
    specimens = [{"reference": draft.create(s)} for s in group.specimens]
    results = []
    for found in group.observations:
        found["basedOn"] = [{"reference": order}]
        if specimens:
            found["specimen"] = specimens[0]
        results.append({"reference": draft.create(found)})
    group.report["basedOn"] = [{"reference": order}]
    if specimens:
        group.report["specimen"] = specimens
    if results:
        group.report["result"] = results
    draft.create(group.report)


_HANDLERS = {
    "PID": _pid,
    "PV1": _pv1,
    "ORC": _orc,
    "OBR": _obr,
    "OBX": _obx,
    "NTE": _nte,
    "SPM": _spm,
}
