"""ADT → Patient and Encounter: A01 (admit), A04 (register) and A08 (update) upsert both,
A03 (discharge) ends the Encounter, A40 (merge) retires the Patient MRG-1 names in favour
of the one PID names (``link`` replaced-by, ``active`` false)."""

from __future__ import annotations

from typing import Any

import orjson

from ingestion.hl7v2.draft import Context, Draft, identifier_query
from ingestion.hl7v2.encounter import encounter, visit_query
from ingestion.hl7v2.errors import REQUIRED_MISSING, UNKNOWN_KEY, Hl7Error
from ingestion.hl7v2.parse import Message, Segment
from ingestion.hl7v2.patient import contacts, match_query, matching_identifier, patient, required

JsonObject = dict[str, Any]
# Encounter.status each event leaves the visit in.
STATUS = {"A01": "in-progress", "A04": "arrived", "A08": "in-progress", "A03": "finished"}


async def map_adt(message: Message, context: Context) -> Draft:
    if message.trigger == "A40":
        return await _merge(message, context)
    draft = Draft()
    pid = required(message, "PID")
    subject = draft.upsert(_patient(message, pid, context), match_query(pid))
    pv1 = message.first("PV1")
    if pv1 is None and message.trigger == "A03":
        raise Hl7Error("a discharge needs the PV1 segment", REQUIRED_MISSING, "PV1")
    if pv1 is not None:
        _visit(draft, message.trigger, pv1, subject, context)
    return draft


def _patient(message: Message, pid: Segment, context: Context) -> JsonObject:
    found = patient(pid, context)
    found["active"] = True
    kin = contacts(message)
    if kin:
        found["contact"] = kin
    return found


def _visit(draft: Draft, trigger: str, pv1: Segment, subject: str, context: Context) -> None:
    visit = encounter(pv1, subject, STATUS.get(trigger, "unknown"), context)
    query = visit_query(pv1)
    if query is not None:
        draft.upsert(visit, query)
    elif trigger == "A03":
        raise Hl7Error(
            "a discharge needs the visit number", REQUIRED_MISSING, "PV1", pv1.sequence, 19
        )
    elif trigger in ("A01", "A04"):
        draft.create(visit)  # a new visit that later messages cannot name
    # A08 without a visit number: nothing says which visit it updates


async def _merge(message: Message, context: Context) -> Draft:
    draft = Draft()
    pid = required(message, "PID")
    mrg = required(message, "MRG")
    losing = identifier_query(matching_identifier(mrg, "MRG", 1))
    current = await context.find("Patient", losing)
    if current is None or current.body is None:
        raise Hl7Error("names no Patient we know", UNKNOWN_KEY, "MRG", mrg.sequence, 1)
    kept = _patient(message, pid, context)
    kept["link"] = [{"other": {"reference": f"Patient/{current.id}"}, "type": "replaces"}]
    survivor = draft.upsert(kept, match_query(pid))
    retired = orjson.loads(current.body)
    retired.pop("meta", None)
    links = [link for link in retired.get("link", []) if link.get("type") != "replaced-by"]
    retired["link"] = [*links, {"other": {"reference": survivor}, "type": "replaced-by"}]
    retired["active"] = False
    draft.update(retired, current)
    return draft
