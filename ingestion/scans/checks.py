"""Step 7 of the pipeline: what may be committed without a human.

Every header field and lab row comes out either ``accepted`` with its value or ``review`` with
the reasons. The rules lean one way: anything uncertain goes to review.

- The MRN comes from the barcodes (Code128, and the 2D code's ``MEDDOC:<MRN>:...``); the MRN
  printed in the header only cross-checks it. Codes that disagree with each other, or a printed
  MRN read with confidence that differs from them, send the MRN to review; no barcode at all does
  too. The document id is handled the same way with the 2D code.
- Lab rows: the test is matched through ``terminology.lab_matcher`` (below its threshold:
  review); the unit must be one the test is reported in or convertible to it; the value must
  be plausible for the test (``LabTest.plausible``: a lost decimal point, 3.7 read as 37, lands
  outside) and printed with as many decimals as its reference range (``37`` against
  ``3.5 - 5.1`` is a lost decimal point that a wide plausible range could miss); the range's
  bounds must be plausible too. The flag is **recomputed** from value and range; a printed flag
  that says otherwise is a review reason. A flag that was not read at all is no evidence:
  Tesseract drops lone letters (three of four flags on one blurred test page).
- Every field's confidence (OCR times parse certainty) must reach its threshold. A value or
  range below it is read a second time (``second_reading.py``) when the page can be read
  again: a second reading that agrees exactly lifts the confidence, and the row is checked
  again from the start.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar

from ingestion.scans.extract import Field, Header, LabRowFields, Page
from ingestion.scans.extract.values import Measured, ReferenceRange
from ingestion.scans.page import Barcode, CellReader
from ingestion.scans.second_reading import confirm_row, range_contradicted
from terminology.lab_catalogue import LabTest, lab_test
from terminology.lab_matcher import Candidate, default_matcher, match_lab_test

T = TypeVar("T")
Status = Literal["accepted", "review"]

# Field confidence (0-1) needed to accept without a human. Numbers are stricter than names: a
# misread digit is a plausible wrong value that no other check can see.
HEADER_THRESHOLD = 0.80
NAME_THRESHOLD = 0.80
# Measured on the synthetic corpus: misread digits scored 0.59, 0.67, and one (TSH 2.51 read
# as 2.91) above 0.75; values read right mostly score above 0.85.
VALUE_THRESHOLD = 0.85
RANGE_THRESHOLD = 0.60  # a misread bound changes the flag, not the value
# A range accepted below this is read a second time: a clean reading that differs sends the
# row to review (a urea range 2.5-7.8 was once read 2.0-7.6 at 0.70-0.80).
RANGE_CROSS_CHECK_BELOW = 0.80
TERM_THRESHOLD = 0.50  # test name and unit: the matcher and the UCUM parser check them again
# How a name must have matched for its OCR confidence not to matter (``_unmistakable``).
UNMISTAKABLE_METHODS = frozenset({"exact", "abbreviation", "display", "ocr"})
DOCUMENT_PREFIX = "MEDDOC:"
REQUIRED = ("name", "birth_date", "mrn")


@dataclass(frozen=True, slots=True)
class Decision(Generic[T]):
    status: Status
    value: T | None
    confidence: float
    reasons: tuple[str, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"


@dataclass(frozen=True, slots=True)
class LabResult:
    """A lab row as it would be committed: LOINC code, value in the printed UCUM unit, the
    printed reference range and the recomputed flag (H, L, N)."""

    code: str
    display: str
    value: Decimal
    comparator: str | None
    unit: str
    low: Decimal | None
    high: Decimal | None
    flag: str


@dataclass(frozen=True, slots=True)
class RowDecision:
    row: LabRowFields
    status: Status
    result: LabResult | None  # set when accepted; the best reading so far otherwise, or None
    confidence: float
    reasons: tuple[str, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"


@dataclass(frozen=True, slots=True)
class PageDecision:
    header: dict[str, Decision[object]]
    rows: tuple[RowDecision, ...]


def check_page(
    page: Page, barcodes: Sequence[Barcode], *, today: dt.date | None = None
) -> PageDecision:
    return PageDecision(
        check_header(page.header, barcodes, today=today),
        tuple(check_row(row, page.reread) for row in page.lab_rows),
    )


# -- header ----------------------------------------------------------------------------------


def check_header(
    header: Header, barcodes: Sequence[Barcode], *, today: dt.date | None = None
) -> dict[str, Decision[object]]:
    today = today or dt.date.today()
    coded_mrns, coded_documents = _from_barcodes(barcodes)
    decisions: dict[str, Decision[object]] = {
        "mrn": _cross_checked(coded_mrns, header.mrn, "MRN"),
        "document_id": _cross_checked(coded_documents, header.document_id, "document id"),
    }
    for name in ("name", "birth_date", "sex", "collected", "printed", "clinic", "physician"):
        field: Field[object] | None = getattr(header, name)
        if field is None:
            if name in REQUIRED:
                decisions[name] = Decision("review", None, 0.0, ("not found on the page",))
            continue
        threshold = NAME_THRESHOLD if name == "name" else HEADER_THRESHOLD
        reasons = _confidence_reasons(name.replace("_", " "), field, threshold)
        if isinstance(field.value, dt.date) and not dt.date(1880, 1, 1) <= field.value <= today:
            reasons.append("date in the future or before 1880")
        decisions[name] = _decided(field.value, field.confidence, reasons)
    if decisions.get("document_id") is None:
        del decisions["document_id"]
    return decisions


def _from_barcodes(barcodes: Sequence[Barcode]) -> tuple[set[str], set[str]]:
    mrns, documents = set(), set()
    for code in barcodes:
        if code.symbology == "code128" and not code.text.startswith(("MEDSEP:", DOCUMENT_PREFIX)):
            mrns.add(code.text.strip())
        elif code.text.startswith(DOCUMENT_PREFIX):
            parts = code.text.split(":")
            if len(parts) == 4:
                mrns.add(parts[1])
                documents.add(parts[3])
    return mrns, documents


def _cross_checked(coded: set[str], printed: Field[str] | None, what: str) -> Decision[object]:
    """A value from the barcodes, cross-checked by OCR; OCR alone is never enough."""
    if len(coded) > 1:
        return Decision("review", None, 0.0, (f"the barcodes disagree on the {what}",))
    if not coded:
        value = printed.value if printed else None
        return Decision("review", value, printed.confidence if printed else 0.0,
                        (f"no barcode carries the {what}",))  # fmt: skip
    [value] = coded
    if printed is not None and printed.value != value:
        return Decision("review", value, 0.5, (f"the printed {what} differs from the barcode",))
    return Decision("accepted", value, 1.0)


def _confidence_reasons(what: str, field: Field[T], threshold: float) -> list[str]:
    reasons = list(field.notes) if field.confidence < threshold else []
    if field.confidence < threshold:
        reasons.insert(0, f"{what} confidence {field.confidence:.2f} below {threshold:.2f}")
    if field.alternatives:
        reasons.append("other readings possible")
    return reasons


def _decided(value: T, confidence: float, reasons: Sequence[str]) -> Decision[T]:
    status: Status = "review" if reasons else "accepted"
    return Decision(status, value, confidence, tuple(reasons))


# -- lab rows --------------------------------------------------------------------------------


def check_row(row: LabRowFields, reread: CellReader | None = None) -> RowDecision:
    """The row's decision. With ``reread`` (the page can be read again), a row in review whose
    value or range was read with low confidence is accepted only if a second reading confirms
    them and the confirmed row passes every check."""
    decision = _check_row(row)
    if reread is None:
        return decision
    if decision.accepted:
        reference = row.range
        if (
            reference is not None
            and reference.confidence < RANGE_CROSS_CHECK_BELOW
            and range_contradicted(reference, reread)
        ):
            reasons = ("the reference range read differently a second time",)
            return dataclasses.replace(decision, status="review", reasons=reasons)
        return decision
    confirmed = confirm_row(
        row,
        reread,
        value_threshold=VALUE_THRESHOLD,
        unit_threshold=TERM_THRESHOLD,
        range_threshold=RANGE_THRESHOLD,
    )
    if confirmed is None:
        return decision
    second = _check_row(confirmed)
    return second if second.accepted else decision


def _check_row(row: LabRowFields) -> RowDecision:
    reasons: list[str] = []
    test, match, match_reasons = _matched(row)
    match_confidence = match.confidence if test is not None and match is not None else 0.0
    name_threshold = TERM_THRESHOLD
    if row.test.confidence < TERM_THRESHOLD and _unmistakable(row, match):
        name_threshold = 0.0
    confidences = [row.test.confidence]
    fields: tuple[tuple[str, Field[Any] | None, float], ...] = (
        ("test name", row.test, name_threshold),
        ("value", row.value, VALUE_THRESHOLD),
        ("unit", row.unit, TERM_THRESHOLD),
        ("reference range", row.range, RANGE_THRESHOLD),
    )
    for what, field, threshold in fields:
        if field is not None:
            confidences.append(field.confidence)
            reasons += _confidence_reasons(what, field, threshold)
    if row.value is None:
        reasons.append("no readable result")
    if row.unit is None:
        reasons.append("no recognised unit")
    if row.range is None:
        reasons.append("no readable reference range: the flag cannot be computed")
    reasons += match_reasons
    confidence = min(min(confidences), match_confidence)
    if test is None or row.value is None or row.unit is None:
        return RowDecision(row, "review", None, confidence, tuple(reasons))
    reference = row.range.value if row.range else None
    result, value_reasons = lab_result(test, row.value.value, row.unit.value, reference)
    reasons += value_reasons
    flag = result.flag
    if row.flag is not None and flag and not flags_agree(row.flag.value, flag):
        reasons.append(f"printed flag {row.flag.value} disagrees with the value and range ({flag})")
    status: Status = "review" if reasons else "accepted"
    return RowDecision(row, status, result, confidence, tuple(reasons))


def lab_result(
    test: LabTest, measured: Measured, unit: str, reference: ReferenceRange | None
) -> tuple[LabResult, list[str]]:
    """A value of ``test`` (``unit``: UCUM, as printed) as it would be committed, with the
    reasons it may not be: plausibility, decimals, a flag that cannot be computed. Used for
    values read from a page and for values a reviewer accepts or corrects."""
    unit = test.reported_unit(unit)
    reasons = _value_reasons(test, measured, unit, reference)
    flag = recomputed_flag(measured, reference) if reference else None
    if reference is not None and flag is None:
        reasons.append("the flag cannot be computed from a bounded value")
    result = LabResult(
        test.code,
        test.display,
        measured.value,
        measured.comparator,
        unit,
        reference.low.value if reference and reference.low else None,
        reference.high.value if reference and reference.high else None,
        flag or "",
    )
    return result, reasons


def _matched(row: LabRowFields) -> tuple[LabTest | None, Candidate | None, list[str]]:
    """The test the row's name (and unit) matched, the matcher's best candidate, and the
    reasons the match is not good enough."""
    candidates = match_lab_test(row.test.value, row.unit.value if row.unit else None, limit=2)
    if not candidates:
        return None, None, ["test name not recognised"]
    best = candidates[0]
    test = lab_test(best.code)
    if test is None:
        return None, best, ["test name not recognised"]
    if not best.accepted:
        return test, best, [f"test name match uncertain ({best.confidence:.2f})"]
    return test, best, []


def _unmistakable(row: LabRowFields, best: Candidate | None) -> bool:
    """A test name whose OCR confidence does not matter: it matched a test as printed or with
    OCR's usual confusions undone (not fuzzily), in a unit read with confidence that the test
    is reported in, and no other test's name is within one edit of it: a misread letter could
    not have made it another test. (Tesseract's confidence for ``HbA1c`` is low on most pages;
    ``AST`` and ``ALT`` are one letter apart and keep the threshold.)"""
    if row.unit is None or row.unit.confidence < TERM_THRESHOLD:
        return False
    return (
        best is not None
        and best.accepted
        and best.method in UNMISTAKABLE_METHODS
        and best.unit_fit == "listed"
        and default_matcher().isolated(row.test.value, best.code)
    )


def _value_reasons(
    test: LabTest, measured: Measured, unit: str, reference: ReferenceRange | None
) -> list[str]:
    reasons = []
    plausible = test.plausible(float(measured.value), unit)
    if plausible is None:
        reasons.append(f"unit {unit} cannot be checked against the test's units")
    elif not plausible:
        reasons.append("value outside the plausible range for the test (lost decimal point?)")
    if reference is not None:
        for bound in (reference.low, reference.high):
            if bound is not None and test.plausible(float(bound.value), unit) is False:
                reasons.append("reference range outside the plausible range for the test")
                break
        if reference.low and reference.high and reference.low.value > reference.high.value:
            reasons.append("reference range low above high")
        if measured.comparator is None and measured.number.decimals != reference.decimals:
            reasons.append(
                "value printed with other decimals than its reference range (lost decimal point?)"
            )
    return reasons


def recomputed_flag(measured: Measured, reference: ReferenceRange) -> str | None:
    """H, L or N from the value and the range; None when a bounded value (``< 5``) straddles a
    limit."""
    low = reference.low.value if reference.low else None
    high = reference.high.value if reference.high else None
    value, comparator = measured.value, measured.comparator
    # The values the result may stand for: [least, most]; lab quantities are not negative.
    least = value if comparator in (None, ">", ">=") else Decimal(0)
    most = value if comparator in (None, "<", "<=") else None
    if high is not None and least is not None and least > high:
        return "H"
    if low is not None and most is not None and most < low:
        return "L"
    above_low = low is None or (least is not None and least >= low)
    below_high = high is None or (most is not None and most <= high)
    return "N" if above_low and below_high else None


def flags_agree(printed: str, computed: str) -> bool:
    if printed == "A":  # "*" or "!": abnormal, either way
        return computed in ("H", "L")
    return printed == computed
