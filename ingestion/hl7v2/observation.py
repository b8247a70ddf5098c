"""OBX → Observation (v2-to-FHIR IG "OBX[Observation]"): the value by OBX-2, units through
UCUM, reference range, interpretation, status, effective time."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from ingestion.hl7v2 import datatypes as dt
from ingestion.hl7v2.draft import Context
from ingestion.hl7v2.errors import DATA_TYPE, REQUIRED_MISSING, Hl7Error
from ingestion.hl7v2.parse import Segment, Value
from terminology import ucum
from terminology.lab_matcher import best_match

JsonObject = dict[str, Any]
UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
# OBX-11 (table 0085) → Observation.status.
STATUS = {
    "F": "final",
    "C": "corrected",
    "A": "amended",
    "P": "preliminary",
    "S": "preliminary",
    "R": "registered",
    "I": "registered",
    "X": "cancelled",
    "D": "entered-in-error",
    "W": "entered-in-error",
}
_COMPARATORS = {"<", ">", "<=", ">="}
_RANGE = re.compile(r"\s*(-?[\d.]+)\s*-\s*(-?[\d.]+)\s*")
_BOUND = re.compile(r"\s*(<=|>=|<|>)\s*(-?[\d.]+)\s*")


def observation(obx: Segment, subject: str, context: Context) -> JsonObject:
    code = dt.codeable(obx.value(3))
    if code is None:
        raise Hl7Error("has no observation identifier", REQUIRED_MISSING, "OBX", obx.sequence, 3)
    units = unit(obx.value(6))
    found: JsonObject = {
        "resourceType": "Observation",
        "status": STATUS.get(obx.get(11), "unknown"),
        "code": with_loinc(code, units),
        "subject": {"reference": subject},
    }
    found.update(value(obx, context))
    ranges = reference_range(obx.get(7), units)
    if ranges:
        found["referenceRange"] = [ranges]
    flags = [{"coding": [{"system": INTERPRETATION, "code": v.text}]} for v in obx.repetitions(8)]
    if flags:
        found["interpretation"] = flags
    effective = dt.date_time(obx.get(14), context.zone, ("OBX", obx.sequence, 14))
    if effective:
        found["effectiveDateTime"] = effective
    performer = [dt.person_reference(v) for v in obx.repetitions(16)]
    if any(performer):
        found["performer"] = [p for p in performer if p]
    return found


def value(obx: Segment, context: Context) -> JsonObject:
    """``value[x]`` by OBX-2; nothing for an empty OBX-5."""
    kind = obx.get(2).upper()
    values = obx.repetitions(5)
    where = ("OBX", obx.sequence, 5)
    if not values:
        return {}
    units = unit(obx.value(6))
    if kind == "NM":
        return {"valueQuantity": quantity(dt.decimal(values[0].text, where), units)}
    if kind in ("ST", "TX", "FT"):
        # Components of a text value are text too (a ^ the sender did not escape).
        texts = ["^".join("&".join(c) for c in v.components) for v in values]
        return {"valueString": "\n".join(texts)}
    if kind in ("CWE", "CE", "CNE", "CF"):
        concept = dt.codeable(values[0])
        return {"valueCodeableConcept": concept} if concept else {}
    if kind == "SN":
        return structured_numeric(values[0], units, where)
    if kind in ("DT", "DTM", "TS"):
        when = dt.date_time(values[0].text, context.zone, where)
        return {"valueDateTime": when} if when else {}
    raise Hl7Error(f"value type {kind[:8]!r} is not supported", DATA_TYPE, "OBX", obx.sequence, 2)


def with_loinc(code: JsonObject, units: JsonObject) -> JsonObject:
    """A local test code gains the LOINC coding the lab test matcher accepts for its name and
    unit; a candidate it is not sure of is not used (a wrong code is worse than none)."""
    codings = code.get("coding", [])
    name = code.get("text")
    if not name or any(c.get("system") == LOINC for c in codings):
        return code
    candidate = best_match(name, units.get("code") or units.get("unit"))
    if candidate is None:
        return code
    loinc = {"system": LOINC, "code": candidate.code, "display": candidate.display}
    return {**code, "coding": [*codings, loinc]}


def unit(value: Value) -> JsonObject:
    """OBX-6 → the unit part of a Quantity: a UCUM code when the sender gave one or the printed
    unit reads as one, the text always."""
    code, text, system = value.component(1), value.component(2), value.component(3)
    found: JsonObject = {}
    printed = text or code
    if printed:
        found["unit"] = printed
    ucum_code = code if system.upper() == "UCUM" and ucum.is_valid(code) else None
    if ucum_code is None and printed:
        ucum_code = ucum.from_printed(code) or ucum.from_printed(text)
    if ucum_code:
        found.update({"system": UCUM, "code": ucum_code})
    return found


def quantity(number: Decimal, units: JsonObject, comparator: str = "") -> JsonObject:
    found: JsonObject = {"value": number}
    if comparator:
        found["comparator"] = comparator
    return {**found, **units}


def structured_numeric(value: Value, units: JsonObject, where: tuple[str, int, int]) -> JsonObject:
    """SN (comparator ^ number ^ separator ^ number) → Quantity, Range or Ratio."""
    comparator, first, separator, second = (value.component(n) for n in (1, 2, 3, 4))
    low = dt.decimal(first, where) if first else None
    if separator in ("-", "+") and low is not None and second:
        high = dt.decimal(second, where)
        return {"valueRange": {"low": quantity(low, units), "high": quantity(high, units)}}
    if separator in (":", "/") and low is not None and second:
        ratio = {"numerator": {"value": low}, "denominator": {"value": dt.decimal(second, where)}}
        return {"valueRatio": ratio}
    if low is None:
        raise Hl7Error("is a structured numeric without a number", DATA_TYPE, *where)
    if comparator in ("", "="):
        return {"valueQuantity": quantity(low, units)}
    if comparator == "<>":
        return {"valueQuantity": quantity(low, units)}
    if comparator not in _COMPARATORS:
        raise Hl7Error("has an unknown comparator", DATA_TYPE, *where)
    return {"valueQuantity": quantity(low, units, comparator)}


def reference_range(text: str, units: JsonObject) -> JsonObject | None:
    """OBX-7: ``low-high``, ``<high``, ``>low``; anything else as text."""
    if not text.strip():
        return None
    try:
        both = _RANGE.fullmatch(text)
        if both:
            return {
                "low": {"value": Decimal(both[1]), **units},
                "high": {"value": Decimal(both[2]), **units},
            }
        bound = _BOUND.fullmatch(text)
        if bound:
            key = "high" if bound[1].startswith("<") else "low"
            return {key: {"value": Decimal(bound[2]), **units}}
    except InvalidOperation:
        pass
    return {"text": text}
