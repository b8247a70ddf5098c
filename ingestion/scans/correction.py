"""A lab value a reviewer accepts or corrects, checked as an automatic one is (``checks.py``):
the test from the catalogue, the value and range parsed as printed text is (``3.7``, ``<5``,
``3.5 - 5.1``), the unit through UCUM, then plausibility, decimals and the recomputed flag.

Text a reviewer typed is not OCR: confidence plays no part, and neither do OCR's repairs (``Al``
is not 41, ``3:5`` not 3.5; a decimal comma is fine). A field the reviewer left as the page
printed it is parsed as the page was (the candidate the Task showed). What cannot be parsed
is bad input (``Invalid``); what parses but fails a check comes back as reasons, for the
caller to refuse or to record as overridden.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from fhir_server.errors import Invalid, Issue
from ingestion.scans.checks import LabResult, lab_result
from ingestion.scans.extract.values import COMMA_DECIMAL, parse_range, parse_unit, parse_value
from terminology.lab_catalogue import lab_test

TYPED = COMMA_DECIMAL  # the least parse certainty of typed text: a decimal comma, no repairs


@dataclass(frozen=True, slots=True)
class LabValue:
    """What a reviewer confirms: a LOINC code, and value, unit and range as text."""

    code: str
    value: str
    unit: str
    range: str | None = None


@dataclass(frozen=True, slots=True)
class CheckedValue:
    result: LabResult
    reasons: tuple[str, ...]  # the checks it fails; empty: it could have been committed


def check_value(value: LabValue, typed: Collection[str] = ("value", "range")) -> CheckedValue:
    """``typed``: the fields a person typed, parsed strictly; the others are the page's printed
    text, parsed (and repaired) as when the page was read."""
    issues: list[Issue] = []
    test = lab_test(value.code)
    if test is None:
        issues.append(_issue("code", f"{value.code[:40]!r} is not a lab test of the catalogue"))
    measured = parse_value(value.value)
    if measured is None or ("value" in typed and measured.certainty < TYPED):
        issues.append(_issue("value", "not a number (with an optional comparator)"))
    unit = parse_unit(value.unit)
    if unit is None:
        issues.append(_issue("unit", f"{value.unit[:40]!r} is not a UCUM unit"))
    reference = parse_range(value.range) if value.range else None
    if value.range and (reference is None or ("range" in typed and reference.certainty < TYPED)):
        issues.append(_issue("range", "not a range (3.5 - 5.1, < 200, > 60)"))
    if test is None or measured is None or unit is None or issues:
        raise Invalid("The lab value cannot be read", issues)
    result, reasons = lab_result(
        test, measured.value, unit.value, reference.value if reference else None
    )
    return CheckedValue(result, tuple(reasons))


def _issue(field: str, text: str) -> Issue:
    return Issue("invalid", f"{field}: {text}", expression=(field,))
