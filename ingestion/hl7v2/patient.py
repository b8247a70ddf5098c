"""PID → Patient (v2-to-FHIR IG "PID[Patient]"), and the search that matches it by PID-3."""

from __future__ import annotations

from typing import Any

from ingestion.hl7v2 import datatypes as dt
from ingestion.hl7v2.draft import Context, identifier_query
from ingestion.hl7v2.errors import REQUIRED_MISSING, Hl7Error
from ingestion.hl7v2.parse import Message, Segment

JsonObject = dict[str, Any]
_GENDER = {"M": "male", "F": "female", "O": "other", "A": "other", "U": "unknown", "N": "unknown"}


def patient(pid: Segment, context: Context) -> JsonObject:
    found: JsonObject = {"resourceType": "Patient"}
    _put(found, "identifier", [dt.identifier(v) for v in pid.repetitions(3)])
    _put(found, "name", [dt.human_name(v) for v in pid.repetitions(5)])
    where = ("PID", pid.sequence, 7)
    birth = dt.date(pid.get(7), where)
    if birth:
        found["birthDate"] = birth
    if pid.get(8):
        found["gender"] = _GENDER.get(pid.get(8).upper(), "unknown")
    _put(found, "address", [dt.address(v) for v in pid.repetitions(11)])
    telecom = [dt.contact_point(v) for n in (13, 14) for v in pid.repetitions(n)]
    _put(found, "telecom", telecom)
    marital = dt.codeable(pid.value(16))
    if marital:
        found["maritalStatus"] = marital
    death = dt.date_time(pid.get(29), context.zone, ("PID", pid.sequence, 29))
    if death:
        found["deceasedDateTime"] = death
    elif pid.get(30) in ("Y", "N"):
        found["deceasedBoolean"] = pid.get(30) == "Y"
    return found


def contacts(message: Message) -> list[JsonObject]:
    """NK1 → Patient.contact."""
    found = []
    for nk1 in message.all("NK1"):
        contact: JsonObject = {}
        name = dt.human_name(nk1.value(2))
        if name:
            contact["name"] = name
        relationship = dt.codeable(nk1.value(3))
        if relationship:
            contact["relationship"] = [relationship]
        address = dt.address(nk1.value(4))
        if address:
            contact["address"] = address
        telecom = [dt.contact_point(v) for n in (5, 6) for v in nk1.repetitions(n)]
        _put(contact, "telecom", telecom)
        if contact:
            found.append(contact)
    return found


def match_query(pid: Segment) -> str:
    """The Patient search for PID-3: its first identifier that has an assigning authority."""
    return identifier_query(matching_identifier(pid, "PID", 3))


def matching_identifier(segment: Segment, name: str, number: int) -> JsonObject:
    for value in segment.repetitions(number):
        found = dt.identifier(value)
        if found is not None and "system" in found:
            return found
    raise Hl7Error(
        "needs an identifier with its assigning authority", REQUIRED_MISSING, name,
        segment.sequence, number,
    )  # fmt: skip


def required(message: Message, name: str) -> Segment:
    segment = message.first(name)
    if segment is None:
        raise Hl7Error(f"the message has no {name} segment", REQUIRED_MISSING, name)
    return segment


def _put(target: JsonObject, key: str, values: list[JsonObject | None]) -> None:
    kept = [v for v in values if v]
    if kept:
        target[key] = kept
