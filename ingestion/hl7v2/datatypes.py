"""HL7 v2 data types → FHIR data types, following the v2-to-FHIR IG's datatype maps (DTM, CWE,
CX, XPN, XAD, XTN, EI, XCN). Each takes one ``Value`` (one repetition) and returns FHIR JSON."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from ingestion.hl7v2.errors import DATA_TYPE, Hl7Error
from ingestion.hl7v2.parse import Value

JsonObject = dict[str, Any]

# HL7 coding system names (table 0396) → FHIR system URIs.
SYSTEMS = {
    "LN": "http://loinc.org",
    "LOINC": "http://loinc.org",
    "SCT": "http://snomed.info/sct",
    "SNM": "http://snomed.info/sct",
    "UCUM": "http://unitsofmeasure.org",
    "I10": "http://hl7.org/fhir/sid/icd-10",
    "I10C": "http://hl7.org/fhir/sid/icd-10-cm",
    "I9C": "http://hl7.org/fhir/sid/icd-9-cm",
    "CPT": "http://www.ama-assn.org/go/cpt",
    "RXNORM": "http://www.nlm.nih.gov/research/umls/rxnorm",
}
LOCAL_SYSTEM = "urn:medrec:hl7v2:system:"
AUTHORITY_SYSTEM = "urn:medrec:hl7v2:authority:"
_DTM = re.compile(
    r"(?P<y>\d{4})(?:(?P<mo>\d{2})(?:(?P<d>\d{2})(?:(?P<h>\d{2})(?:(?P<mi>\d{2})"
    r"(?:(?P<s>\d{2})(?:\.(?P<f>\d{1,4}))?)?)?)?)?)?(?P<tz>[+-]\d{4})?"
)


def system_uri(name: str) -> str | None:
    if not name:
        return None
    upper = name.upper()
    if upper in SYSTEMS:
        return SYSTEMS[upper]
    table = re.fullmatch(r"HL7(\d{4})", upper)
    if table:
        return f"http://terminology.hl7.org/CodeSystem/v2-{table[1]}"
    return LOCAL_SYSTEM + re.sub(r"[^A-Za-z0-9.\-]", "-", name)


def _coding(code: str, display: str, system: str) -> JsonObject | None:
    if not code:
        return None
    coding: JsonObject = {"code": code}
    uri = system_uri(system)
    if uri:
        coding = {"system": uri, **coding}
    if display:
        coding["display"] = display
    return coding


def codeable(value: Value) -> JsonObject | None:
    """CWE / CE → CodeableConcept: the primary and the alternate coding; CWE-9 or the first
    display as text."""
    codings = [
        c
        for c in (
            _coding(value.component(1), value.component(2), value.component(3)),
            _coding(value.component(4), value.component(5), value.component(6)),
        )
        if c is not None
    ]
    text = value.component(9) or value.component(2) or value.component(5)
    concept: JsonObject = {}
    if codings:
        concept["coding"] = codings
    if text:
        concept["text"] = text
    return concept or None


def decimal(text: str, where: tuple[str, int, int]) -> Decimal:
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        raise Hl7Error("is not a number", DATA_TYPE, *where) from None
    if not number.is_finite():
        raise Hl7Error("is not a finite number", DATA_TYPE, *where)
    return number


def date_time(text: str, zone: tzinfo, where: tuple[str, int, int]) -> str | None:
    """DTM → FHIR dateTime at its own precision; a time without offset is in ``zone``."""
    found = _parse_dtm(text, where)
    if found is None:
        return None
    parts, moment = found
    if moment is None:
        return "-".join(parts)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.isoformat(timespec="milliseconds" if "f" in parts else "seconds")


def instant(text: str, zone: tzinfo, where: tuple[str, int, int]) -> str | None:
    """DTM → FHIR instant: needs at least the minute; seconds default to 0."""
    value = date_time(text, zone, where)
    if value is not None and "T" not in value:
        raise Hl7Error("is not precise enough for an instant", DATA_TYPE, *where)
    return value


def date(text: str, where: tuple[str, int, int]) -> str | None:
    """DT (or the date part of a DTM) → FHIR date."""
    found = _parse_dtm(text[:8], where)
    return "-".join(found[0]) if found else None


def _parse_dtm(text: str, where: tuple[str, int, int]) -> tuple[Any, datetime | None] | None:
    text = text.strip()
    if not text:
        return None
    match = _DTM.fullmatch(text)
    if match is None:
        raise Hl7Error("is not a valid date/time", DATA_TYPE, *where)
    g = match.groupdict()
    try:
        if g["h"] is None:
            day = [p for p in (g["y"], g["mo"], g["d"]) if p]
            datetime(int(g["y"]), int(g["mo"] or 1), int(g["d"] or 1))  # checks the calendar
            return day, None
        offset = _offset(g["tz"]) if g["tz"] else None
        if g["tz"] and offset is None:
            raise ValueError("not a UTC offset")
        moment = datetime(
            int(g["y"]),
            int(g["mo"]),
            int(g["d"]),
            int(g["h"]),
            int(g["mi"] or 0),
            int(g["s"] or 0),
            int((g["f"] or "0").ljust(6, "0")),
            tzinfo=offset,
        )
    except (ValueError, TypeError):
        raise Hl7Error("is not a valid date/time", DATA_TYPE, *where) from None
    return ({"f": 1} if g["f"] else {}), moment


def sender_offset(text: str) -> tzinfo | None:
    """The UTC offset a DTM carries (MSH-7: the sender's zone), or None."""
    match = _DTM.fullmatch(text.strip())
    if match is None or not match["tz"]:
        return None
    return _offset(match["tz"])


def _offset(text: str) -> tzinfo | None:
    sign = -1 if text[0] == "-" else 1
    hours, minutes = int(text[1:3]), int(text[3:5])
    if hours > 14 or minutes > 59:
        return None
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def hd_system(value: Value) -> str | None:
    """HD (namespace ^ universal id ^ type) → an identifier system URI."""
    namespace, universal, kind = (value.component(n) for n in (1, 2, 3))
    if universal and kind.upper() == "ISO":
        return f"urn:oid:{universal}"
    if universal and kind.upper() in ("URI", "URL"):
        return universal
    if universal and kind.upper() == "UUID":
        return f"urn:uuid:{universal}"
    if namespace or universal:
        return AUTHORITY_SYSTEM + re.sub(r"[^A-Za-z0-9.\-]", "-", namespace or universal)
    return None


def identifier(value: Value) -> JsonObject | None:
    """CX → Identifier: CX-4 assigning authority as the system, CX-5 as the type."""
    if not value.text:
        return None
    result: JsonObject = {"value": value.text}
    system = hd_system(value.part(4))
    if system:
        result["system"] = system
    if value.component(5):
        v2 = "http://terminology.hl7.org/CodeSystem/v2-0203"
        result["type"] = {"coding": [{"system": v2, "code": value.component(5)}]}
    return result


def entity_identifier(value: Value) -> JsonObject | None:
    """EI (entity id ^ namespace ^ universal id ^ type) → Identifier."""
    if not value.text:
        return None
    result: JsonObject = {"value": value.text}
    system = hd_system(Value(value.components[1:4]))
    if system:
        result["system"] = system
    return result


_NAME_USE = {"L": "official", "D": "usual", "M": "maiden", "N": "nickname", "A": "anonymous"}


def human_name(value: Value) -> JsonObject | None:
    """XPN → HumanName."""
    name: JsonObject = {}
    family = value.component(1)
    given = [g for g in (value.component(2), value.component(3)) if g]
    if family:
        name["family"] = family
    if given:
        name["given"] = given
    if value.component(4):
        name["suffix"] = [value.component(4)]
    if value.component(5):
        name["prefix"] = [value.component(5)]
    if not name:
        return None
    use = _NAME_USE.get(value.component(7))
    if use:
        name["use"] = use
    return name


_ADDRESS_USE = {"H": "home", "B": "work", "O": "work", "C": "temp", "BA": "old"}


def address(value: Value) -> JsonObject | None:
    """XAD → Address."""
    found: JsonObject = {}
    lines = [line for line in (value.component(1), value.component(2)) if line]
    if lines:
        found["line"] = lines
    for key, number in (("city", 3), ("state", 4), ("postalCode", 5), ("country", 6)):
        if value.component(number):
            found[key] = value.component(number)
    if not found:
        return None
    if value.component(7) == "M":
        found["type"] = "postal"
    elif value.component(7) in _ADDRESS_USE:
        found["use"] = _ADDRESS_USE[value.component(7)]
    return found


_TELECOM_USE = {"PRN": "home", "ORN": "home", "WPN": "work", "VHN": "home", "EMR": "temp"}
_TELECOM_SYSTEM = {"PH": "phone", "FX": "fax", "CP": "phone", "BP": "pager", "Internet": "email"}


def contact_point(value: Value) -> JsonObject | None:
    """XTN → ContactPoint: the email (XTN-4) or the number, formatted or assembled."""
    kind = value.component(3)
    if kind == "Internet" or value.component(2) == "NET":
        text = value.component(4) or value.component(1)
        system = "email"
    else:
        parts = [value.component(n) for n in (5, 6, 7)]
        text = value.component(1) or " ".join(p for p in parts if p)
        system = _TELECOM_SYSTEM.get(kind, "phone")
    if not text:
        return None
    found: JsonObject = {"system": system, "value": text}
    if kind == "CP":
        found["use"] = "mobile"
    elif value.component(2) in _TELECOM_USE:
        found["use"] = _TELECOM_USE[value.component(2)]
    return found


def person_display(value: Value) -> str:
    """XCN → a display text (id, family, given), for references we do not resolve."""
    name = " ".join(p for p in (value.component(3), value.component(2)) if p)
    return name or value.text


def person_reference(value: Value) -> JsonObject | None:
    """XCN → a logical Reference (identifier and display): the person is not a resource here."""
    if value.empty:
        return None
    reference: JsonObject = {}
    if value.text:
        ident: JsonObject = {"value": value.text}
        system = hd_system(value.part(9))
        if system:
            ident["system"] = system
        reference["identifier"] = ident
    display = person_display(value)
    if display and display != value.text:
        reference["display"] = display
    return reference or None
