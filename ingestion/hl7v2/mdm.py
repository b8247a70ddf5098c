"""MDM^T02 (original document notification and content) → DocumentReference: TXA for the
document's metadata, each OBX a content attachment (ED → data, FT/TX/ST → text, RP → url),
linked to the Patient matched by PID-3."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from ingestion.hl7v2 import datatypes as dt
from ingestion.hl7v2.draft import Context, Draft
from ingestion.hl7v2.encounter import encounter, visit_query
from ingestion.hl7v2.errors import DATA_TYPE, REQUIRED_MISSING, Hl7Error
from ingestion.hl7v2.parse import Message, Segment, Value
from ingestion.hl7v2.patient import match_query, patient, required

JsonObject = dict[str, Any]
DOCUMENT_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0270"
# TXA-17 completion status (table 0271) → DocumentReference.docStatus.
DOC_STATUS = {
    "AU": "final",
    "LA": "final",
    "DO": "final",
    "IP": "preliminary",
    "IN": "preliminary",
    "PA": "preliminary",
    "DI": "preliminary",
}
TEXT = "text/plain; charset=utf-8"


async def map_mdm(message: Message, context: Context) -> Draft:
    draft = Draft()
    pid = required(message, "PID")
    txa = required(message, "TXA")
    subject = draft.create(patient(pid, context), if_none_exist=match_query(pid))
    document = _document(txa, subject, context)
    pv1 = message.first("PV1")
    query = visit_query(pv1) if pv1 is not None else None
    if pv1 is not None and query is not None:
        visit = draft.create(encounter(pv1, subject, "unknown", context), if_none_exist=query)
        document["context"] = {"encounter": [{"reference": visit}]}
    content = [{"attachment": _attachment(obx)} for obx in message.all("OBX")]
    if not content:
        raise Hl7Error("the document has no content (OBX)", REQUIRED_MISSING, "OBX")
    document["content"] = content
    draft.create(document)
    return draft


def _document(txa: Segment, subject: str, context: Context) -> JsonObject:
    found: JsonObject = {
        "resourceType": "DocumentReference",
        "status": "current",
        "subject": {"reference": subject},
    }
    if txa.get(2):
        kind = {"system": DOCUMENT_TYPE, "code": txa.get(2)}
        found["type"] = {"coding": [kind]}
    if txa.get(17) in DOC_STATUS:
        found["docStatus"] = DOC_STATUS[txa.get(17)]
    when = dt.instant(txa.get(4) or txa.get(6), context.zone, ("TXA", txa.sequence, 4))
    if when:
        found["date"] = when
    unique = dt.entity_identifier(txa.value(12))
    if unique:
        found["masterIdentifier"] = unique
    others = [dt.entity_identifier(txa.value(n)) for n in (14, 15, 16)]
    if any(others):
        found["identifier"] = [i for i in others if i]
    authors = [dt.person_reference(v) for v in txa.repetitions(9)]
    if any(authors):
        found["author"] = [a for a in authors if a]
    return found


def _attachment(obx: Segment) -> JsonObject:
    kind = obx.get(2).upper()
    values = obx.repetitions(5)
    where = ("OBX", obx.sequence, 5)
    if not values:
        raise Hl7Error("has no content", REQUIRED_MISSING, *where)
    title = dt.codeable(obx.value(3))
    found: JsonObject = {"title": title["text"]} if title and "text" in title else {}
    if kind == "ED":
        return {**found, **_encapsulated(values[0], where)}
    if kind in ("FT", "TX", "ST"):
        text = "\n".join("^".join("&".join(c) for c in v.components) for v in values)
        return {**found, "contentType": TEXT, "data": base64.b64encode(text.encode()).decode()}
    if kind == "RP":
        return {**found, "url": values[0].text}
    raise Hl7Error(f"value type {kind[:8]!r} is not a document", DATA_TYPE, "OBX", obx.sequence, 2)


def _encapsulated(value: Value, where: tuple[str, int, int]) -> JsonObject:
    """ED: source ^ type of data ^ subtype ^ encoding ^ data."""
    media = value.component(2).lower()
    subtype = value.component(3).lower()
    content_type = f"{media}/{subtype}" if media and subtype else "application/octet-stream"
    encoding = value.component(4).upper()
    data = value.component(5)
    try:
        if encoding == "BASE64":
            raw = base64.b64decode("".join(data.split()), validate=True)
        elif encoding == "HEX":
            raw = bytes.fromhex(data)
        elif encoding in ("A", ""):
            raw = data.encode()
        else:
            raise Hl7Error("has an unknown encoding", DATA_TYPE, *where)
    except (binascii.Error, ValueError):
        raise Hl7Error("does not decode as its encoding says", DATA_TYPE, *where) from None
    return {"contentType": content_type, "data": base64.b64encode(raw).decode()}
