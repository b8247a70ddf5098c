"""The raw message as a Binary and a Provenance naming it as the source of everything the
message wrote: for audit, and to reprocess a message later."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from ingestion.hl7v2.draft import Draft
from ingestion.hl7v2.parse import Message

MEDIA_TYPE = "x-application/hl7-v2+er7"
PARTICIPANT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"


def add_provenance(draft: Draft, message: Message) -> None:
    targets = [{"reference": reference} for reference in draft.references]
    binary = draft.create(
        {
            "resourceType": "Binary",
            "contentType": MEDIA_TYPE,
            "data": base64.b64encode(message.raw).decode("ascii"),
        }
    )
    sender = message.sender.replace("|", " ").strip() or "unknown sender"
    draft.create(
        {
            "resourceType": "Provenance",
            "target": targets,
            "recorded": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "activity": {"coding": [{"system": OPERATION, "code": "UPDATE"}]},
            "agent": [
                {
                    "type": {"coding": [{"system": PARTICIPANT, "code": "author"}]},
                    "who": {"display": sender},
                }
            ],
            "entity": [{"role": "source", "what": {"reference": binary}}],
        }
    )
