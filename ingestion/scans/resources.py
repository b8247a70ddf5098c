"""The FHIR resources a scanned document becomes (``commit.py`` decides which), as JSON.

References between them are the draft's ``urn:uuid`` placeholders; dates are FHIR strings.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ingestion.labels.colours import RECORD_CATEGORY
from ingestion.scans.checks import LabResult, RowDecision
from ingestion.scans.document import ScannedDocument
from ingestion.scans.vault import BLOB_EXTENSION
from terminology import default_service

JsonObject = dict[str, Any]
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
DOCUMENT_TYPE_MAP = "https://medrec.dev/fhir/ConceptMap/record-category-to-document-type"
US_CORE_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
DIAGNOSTIC_SERVICE = "http://terminology.hl7.org/CodeSystem/v2-0074"
TASK_CODE = "http://hl7.org/fhir/CodeSystem/task-code"
PARTICIPANT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
DEVICE_SYSTEM = "https://medrec.dev/fhir/sid/device"
DEVICE_ID = "medrec-ingestion"
DEVICE_QUERY = f"identifier={DEVICE_SYSTEM}|{DEVICE_ID}"
LAB_REPORT = {"system": LOINC, "code": "11502-2", "display": "Laboratory report"}
_FLAGS = {"H": "High", "L": "Low", "N": "Normal"}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def device() -> JsonObject:
    return {
        "resourceType": "Device",
        "identifier": [{"system": DEVICE_SYSTEM, "value": DEVICE_ID}],
        "status": "active",
        "deviceName": [{"name": "medrec ingestion", "type": "user-friendly-name"}],
    }


def binary(content_type: str, blob_id: str, security_context: str) -> JsonObject:
    """No ``data``: the bytes are ciphertext in the scan vault, named by the extension on the
    absent ``data`` element. Access to it is the DocumentReference's (``securityContext``)."""
    return {
        "resourceType": "Binary",
        "contentType": content_type,
        "securityContext": {"reference": security_context},
        "_data": {"extension": [{"url": BLOB_EXTENSION, "valueString": blob_id}]},
    }


def document_reference(
    document_id: str,
    id_system: str,
    category: str | None,
    subject: str | None,
    scan: JsonObject,
    text: str,
    author: str,
    collected: str | None,
    *,
    reviewed: bool,
) -> JsonObject:
    encoded = text.encode("utf-8")
    ocr = {
        "contentType": "text/plain",
        "language": "en",
        "data": base64.b64encode(encoded).decode("ascii"),
        "size": len(encoded),
        "hash": base64.b64encode(hashlib.sha1(encoded).digest()).decode("ascii"),  # noqa: S324
        "title": "OCR text",
    }
    resource: JsonObject = {
        "resourceType": "DocumentReference",
        "identifier": [{"system": id_system, "value": document_id}],
        "status": "current",
        "docStatus": "final" if reviewed else "preliminary",
        "date": now(),
        "author": [{"reference": author}],
        "content": [{"attachment": scan}, {"attachment": ocr}],
    }
    if category is not None:
        resource.update(document_codes(category))
    if subject is not None:
        resource["subject"] = {"reference": subject}
    if collected is not None:
        resource["context"] = {"period": {"start": collected}}
    return resource


def document_codes(category: str) -> JsonObject:
    """``type`` (the category's LOINC document code) and ``category`` (US Core's and ours)."""
    service = default_service()
    found: JsonObject = {}
    loinc = service.translate(RECORD_CATEGORY, category, url=DOCUMENT_TYPE_MAP, target_system=LOINC)
    if (match := loinc.first()) is not None:
        found["type"] = {
            "coding": [{"system": LOINC, "code": match.code, "display": match.display}]
        }
    categories: list[JsonObject] = [{"coding": [{"system": RECORD_CATEGORY, "code": category}]}]
    us_core = service.translate(
        RECORD_CATEGORY, category, url=DOCUMENT_TYPE_MAP, target_system=US_CORE_CATEGORY
    )
    if (match := us_core.first()) is not None:
        coding = {"system": US_CORE_CATEGORY, "code": match.code, "display": match.display}
        categories.insert(0, {"coding": [coding]})
    found["category"] = categories
    return found


def observation(
    result: LabResult, subject: str, document: str, collected: str | None
) -> JsonObject:
    unit = {"unit": result.unit, "system": UCUM, "code": result.unit}
    quantity: JsonObject = {"value": result.value, **unit}
    if result.comparator:
        quantity = {"value": result.value, "comparator": result.comparator, **unit}
    resource: JsonObject = {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "laboratory"}]}],
        "code": {
            "coding": [{"system": LOINC, "code": result.code, "display": result.display}],
            "text": result.display,
        },
        "subject": {"reference": subject},
        "valueQuantity": quantity,
        "derivedFrom": [{"reference": document}],
    }
    if collected is not None:
        resource["effectiveDateTime"] = collected
    reference: JsonObject = {}
    if result.low is not None:
        reference["low"] = {"value": result.low, **unit}
    if result.high is not None:
        reference["high"] = {"value": result.high, **unit}
    if reference:
        resource["referenceRange"] = [reference]
    if result.flag in _FLAGS:
        coding = {"system": INTERPRETATION, "code": result.flag, "display": _FLAGS[result.flag]}
        resource["interpretation"] = [{"coding": [coding]}]
    return resource


def diagnostic_report(
    subject: str, results: Sequence[str], form: JsonObject, status: str, collected: str | None
) -> JsonObject:
    """US Core's rule for a scanned lab report: ``presentedForm`` is the scan."""
    resource: JsonObject = {
        "resourceType": "DiagnosticReport",
        "status": status,
        "category": [{"coding": [{"system": DIAGNOSTIC_SERVICE, "code": "LAB"}]}],
        "code": {"coding": [LAB_REPORT]},
        "subject": {"reference": subject},
        "issued": now(),
        "presentedForm": [form],
    }
    if results:
        resource["result"] = [{"reference": r} for r in results]
    if collected is not None:
        resource["effectiveDateTime"] = collected
    return resource


def _task(description: str, focus: str, subject: str | None, reasons: Sequence[str]) -> JsonObject:
    task: JsonObject = {
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "priority": "routine",
        "code": {"coding": [{"system": TASK_CODE, "code": "approve"}], "text": description},
        "description": description,
        "focus": {"reference": focus},
        "authoredOn": now(),
        "reasonCode": {"text": "; ".join(reasons)[:2000]},
    }
    if subject is not None:
        task["for"] = {"reference": subject}
    return task


def _input(kind: str, **value: Any) -> JsonObject:
    return {"type": {"text": kind}, **value}


def document_task(
    focus: str, subject: str | None, reasons: Sequence[str], document: ScannedDocument
) -> JsonObject:
    """The whole document to review: its patient, category or pages are in doubt."""
    task = _task("Review scanned document", focus, subject, reasons)
    inputs = [_input("page", valueInteger=n + 1) for n in document.page_numbers]
    if document.mrn is not None:
        inputs.append(_input("candidate MRN", valueString=document.mrn))
    if document.category is not None:
        inputs.append(_input("candidate category", valueCode=document.category))
    if inputs:
        task["input"] = inputs
    return task


def row_task(
    row: RowDecision, page: int, focus: str, subject: str | None, threshold: float
) -> JsonObject:
    """One lab row not committed: what was read, the best candidate, where, and why."""
    reasons = list(row.reasons)
    if row.accepted:
        reasons.append(f"value confidence below the threshold {threshold:.2f}")
    task = _task("Review lab value read from a scan", focus, subject, reasons or ["uncertain"])
    fields = row.row
    inputs = [
        _input("page", valueInteger=page + 1),
        _input("printed test", valueString=fields.test.text),
    ]
    for kind, read in (("printed value", fields.value), ("printed unit", fields.unit),
                       ("printed reference range", fields.range)):  # fmt: skip
        if read is not None:
            inputs.append(_input(kind, valueString=read.text))
    boxes = [f.box for f in (fields.test, fields.value, fields.unit, fields.range) if f and f.box]
    if boxes:  # the row, as left,top,right,bottom
        edges = (min(b.left for b in boxes), min(b.top for b in boxes),
                 max(b.right for b in boxes), max(b.bottom for b in boxes))  # fmt: skip
        inputs.append(
            _input("region (normalized page pixels)", valueString=",".join(map(str, edges)))
        )
    inputs.append(_input("confidence", valueDecimal=round(row.confidence, 3)))
    if row.result is not None:
        result = row.result
        coding = {"system": LOINC, "code": result.code, "display": result.display}
        inputs.append(_input("candidate test", valueCoding=coding))
        quantity = {"value": result.value, "unit": result.unit, "system": UCUM, "code": result.unit}
        inputs.append(_input("candidate value", valueQuantity=quantity))
        if result.low is not None or result.high is not None:
            inputs.append(_input("candidate reference range", valueString=_range_text(result)))
    task["input"] = inputs
    return task


def _range_text(result: LabResult) -> str:
    """As printed (``3.5 - 5.1``, ``< 200``, ``> 60``), the decimals kept: a reviewer's
    acceptance reads it back through the same parser and checks."""
    if result.low is not None and result.high is not None:
        return f"{result.low} - {result.high}"
    return f"< {result.high}" if result.high is not None else f"> {result.low}"


def provenance(targets: Sequence[str], source: str, agent: str) -> JsonObject:
    return {
        "resourceType": "Provenance",
        "target": [{"reference": t} for t in targets],
        "recorded": now(),
        "activity": {"coding": [{"system": OPERATION, "code": "CREATE"}]},
        "agent": [
            {
                "type": {"coding": [{"system": PARTICIPANT, "code": "assembler"}]},
                "who": {"reference": agent},
            }
        ],
        "entity": [{"role": "source", "what": {"reference": source}}],
    }
