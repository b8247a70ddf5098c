"""A second, independent reading of a lab row's low-confidence value, unit and reference range.

Tesseract's confidence for a word is a weak witness: right values score below the threshold on
degraded pages, and a misread digit can score above 0.75. Before a row goes to review because
its value, unit or range was read with low confidence, the cell is read again on its own
(``Ocr.read_cell``: the cell's region alone, one line, digits and separators only, or for a
unit the characters units are printed with). The field is confirmed only when the second
reading

- parses cleanly (no repaired letters, no ambiguous comma) with the **same number** (same
  digits, same decimal point: ``Number`` compares value and printed decimals) and comparator,
  or the same reference range, or the same UCUM unit (for a unit, a repaired caret of a power
  of ten is allowed: ``10%9/L``; it is what OCR does to carets, and its confidence counts
  less); and
- lifts the confidence over the threshold: two readings that agree are wrong together only
  if both are, so the confirmed confidence is ``1 - (1 - first) * (1 - second)``, ``second``
  being the second reading's confidence times its parse certainty.

A reading that disagrees, or finds no number, leaves the field as it was: the row goes to
review. Nothing is ever replaced by the second reading, only confirmed. The checks
(``checks.check_row``) then run again on the confirmed row: every other check must pass.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TypeVar

from ingestion.scans.extract import Field, LabRowFields
from ingestion.scans.extract.fields import ocr_confidence
from ingestion.scans.extract.values import (
    UNIT_REPAIRED,
    Measured,
    Parsed,
    ReferenceRange,
    parse_range,
    parse_unit,
    parse_value,
)
from ingestion.scans.page import NUMBER_CHARACTERS, UNIT_CHARACTERS, CellReader

T = TypeVar("T")
CONFIRMED = "confirmed by a second reading"


def confirm_row(
    row: LabRowFields,
    reread: CellReader,
    *,
    value_threshold: float,
    unit_threshold: float,
    range_threshold: float,
) -> LabRowFields | None:
    """``row`` with its value, unit and range below their thresholds confirmed by a second
    reading; None when there is nothing to confirm or a reading does not agree."""
    value, unit, reference = row.value, row.unit, row.range
    if value is not None and value.confidence < value_threshold:
        value = confirm(value, reread, parse_value, _same_measured)
        if value is None:
            return None
    if unit is not None and unit.confidence < unit_threshold:
        unit = confirm(
            unit, reread, parse_unit, _same, characters=UNIT_CHARACTERS, certain=UNIT_REPAIRED
        )
        if unit is None:
            return None
    if reference is not None and reference.confidence < range_threshold:
        reference = confirm(reference, reread, parse_range, _same)
        if reference is None:
            return None
    if value is row.value and unit is row.unit and reference is row.range:
        return None
    return dataclasses.replace(row, value=value, unit=unit, range=reference)


def range_contradicted(reference: Field[ReferenceRange], reread: CellReader) -> bool:
    """Does a clean second reading of the range's cell give another range? (A reading that
    finds nothing clean contradicts nothing.)"""
    return _contradicted(reference, reread, parse_range)


def _contradicted(
    field: Field[T], reread: CellReader, parse: Callable[[str], Parsed[T] | None]
) -> bool:
    if field.box is None:
        return False
    second = reread(field.box)
    if second is None or not second.words:
        return False
    parsed = parse(" ".join(word.text for word in second.words))
    return parsed is not None and parsed.certainty >= 1.0 and not _same(parsed.value, field.value)


def confirm(
    field: Field[T],
    reread: CellReader,
    parse: Callable[[str], Parsed[T] | None],
    same: Callable[[T, T], bool],
    *,
    characters: str = NUMBER_CHARACTERS,
    certain: float = 1.0,
) -> Field[T] | None:
    """``field`` with its confidence combined with an agreeing second reading's, or None.
    ``certain``: the least parse certainty a second reading may have."""
    if field.box is None or field.alternatives:
        return None
    second = reread(field.box, characters)
    if second is None or not second.words:
        return None
    parsed = parse(" ".join(word.text for word in second.words))
    if parsed is None or parsed.certainty < certain or not same(parsed.value, field.value):
        return None
    confidence = 1 - (1 - field.confidence) * (1 - ocr_confidence(second.words) * parsed.certainty)
    notes = (*field.notes, CONFIRMED)
    return dataclasses.replace(field, confidence=round(confidence, 3), notes=notes)


def _same_measured(second: Measured, first: Measured) -> bool:
    """Same number (digits and decimals) and comparator; the flag is not read again (letters
    are left out of the second reading) and is recomputed anyway."""
    return second.number == first.number and second.comparator == first.comparator


def _same(second: T, first: T) -> bool:
    return second == first
