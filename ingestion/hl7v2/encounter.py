"""PV1 → Encounter (v2-to-FHIR IG "PV1[Encounter]"), matched by PV1-19 (visit number)."""

from __future__ import annotations

from typing import Any

from ingestion.hl7v2 import datatypes as dt
from ingestion.hl7v2.draft import Context, identifier_query
from ingestion.hl7v2.parse import Segment

JsonObject = dict[str, Any]
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
# PV1-2 patient class (table 0004) → v3 ActCode encounter class.
_CLASS = {
    "I": ("IMP", "inpatient encounter"),
    "O": ("AMB", "ambulatory"),
    "E": ("EMER", "emergency"),
    "P": ("PRENC", "pre-admission"),
    "R": ("AMB", "ambulatory"),
    "B": ("AMB", "ambulatory"),
    "N": ("AMB", "ambulatory"),
}


def encounter(pv1: Segment, subject: str, status: str, context: Context) -> JsonObject:
    code, display = _CLASS.get(pv1.get(2), ("AMB", "ambulatory"))
    found: JsonObject = {
        "resourceType": "Encounter",
        "status": status,
        "class": {"system": ACT_CODE, "code": code, "display": display},
        "subject": {"reference": subject},
    }
    visit = dt.identifier(pv1.value(19))
    if visit:
        found["identifier"] = [visit]
    period: JsonObject = {}
    for key, number in (("start", 44), ("end", 45)):
        when = dt.date_time(pv1.get(number), context.zone, ("PV1", pv1.sequence, number))
        if when:
            period[key] = when
    if period:
        found["period"] = period
    location = " ".join(p for p in (pv1.get(3, 1), pv1.get(3, 2), pv1.get(3, 3)) if p)
    if location:
        found["location"] = [{"location": {"display": location}}]
    doctors = [dt.person_reference(v) for n in (7, 8, 17) for v in pv1.repetitions(n)]
    participants = [{"individual": d} for d in doctors if d]
    if participants:
        found["participant"] = participants
    return found


def visit_query(pv1: Segment) -> str | None:
    visit = dt.identifier(pv1.value(19))
    return identifier_query(visit) if visit else None
