"""The lab table: rows of test name, result, unit, reference range and flag.

The table is found by its heading row (Test / Result / Unit / Reference range / Flag); each
word of a row below it belongs to the column whose heading starts at or left of it. The table
ends at the first row that fills fewer than three columns (a row with an unreadable result
still fills its unit and range columns: it is kept, without a value, for review).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ingestion.scans.extract.fields import Field, field_from
from ingestion.scans.extract.rows import TextRow
from ingestion.scans.extract.values import (
    Measured,
    ReferenceRange,
    parse_flag,
    parse_range,
    parse_unit,
    parse_value,
)
from ingestion.scans.page import Box, OcrWord

COLUMNS = ("test", "value", "unit", "range", "flag")
_HEADINGS = {
    "test": re.compile(r"^(test|analyte|investigation|parameter)s?$", re.I),
    "value": re.compile(r"^(result|value)s?$", re.I),
    "unit": re.compile(r"^units?$", re.I),
    "range": re.compile(r"^(reference|ref\.?|range|normal)$", re.I),
    "flag": re.compile(r"^(flag|flags)$", re.I),
}
SLACK = 0.25  # a word may start this share of the narrowest column left of its heading


@dataclass(frozen=True, slots=True)
class LabRowFields:
    """One table row as read. ``unit`` is the UCUM code (its ``text`` the printed unit);
    ``flag`` is the printed flag (H, L or A), None when none was read."""

    test: Field[str]
    value: Field[Measured] | None  # None: no readable number in the result column
    unit: Field[str] | None
    range: Field[ReferenceRange] | None
    flag: Field[str] | None
    box: Box


def extract_table(rows: Sequence[TextRow]) -> list[LabRowFields]:
    for index, row in enumerate(rows):
        columns = _columns(row)
        if columns is not None:
            return _rows(rows[index + 1 :], columns)
    return []


def _columns(row: TextRow) -> dict[str, int] | None:
    """Where each column starts, from a heading row; None if ``row`` is not one."""
    starts: dict[str, int] = {}
    for word in row.words:
        for column, pattern in _HEADINGS.items():
            if column not in starts and pattern.match(word.text.strip(":")):
                starts[column] = word.box.left
                break
    if "test" not in starts or "value" not in starts or len(starts) < 3:
        return None
    return starts


def _rows(rows: Sequence[TextRow], columns: dict[str, int]) -> list[LabRowFields]:
    ordered = sorted(columns.items(), key=lambda item: item[1])
    gaps = [b[1] - a[1] for a, b in itertools.pairwise(ordered)]
    slack = SLACK * min(gaps) if gaps else 0
    found = []
    for row in rows:
        cells: dict[str, list[OcrWord]] = {}
        for word in row.words:
            column = ordered[0][0]
            for name, start in ordered:
                if word.box.left + slack >= start:
                    column = name
            cells.setdefault(column, []).append(word)
        if "test" not in cells or len(cells) < 3:
            break
        found.append(_row(cells))
    return found


def _row(cells: dict[str, list[OcrWord]]) -> LabRowFields:
    name_words = cells["test"]
    value_words = cells.get("value", [])
    value = parse_value(" ".join(w.text for w in value_words)) if value_words else None
    name = field_from(" ".join(w.text for w in name_words), name_words)
    unit_words = cells.get("unit", [])
    unit = parse_unit(" ".join(w.text for w in unit_words)) if unit_words else None
    range_words = cells.get("range", [])
    reference = parse_range(" ".join(w.text for w in range_words)) if range_words else None
    flag = _flag(cells.get("flag", []), value.value if value else None, value_words)
    every = [w for words in cells.values() for w in words]
    return LabRowFields(
        test=name,
        value=None
        if value is None
        else field_from(value.value, value_words, value.certainty, value.notes),
        unit=None
        if unit is None
        else field_from(unit.value, unit_words, unit.certainty, unit.notes),
        range=None
        if reference is None
        else field_from(
            reference.value, _numbers(range_words), reference.certainty, reference.notes
        ),
        flag=flag,
        box=Box(
            min(w.box.left for w in every),
            min(w.box.top for w in every),
            max(w.box.right for w in every),
            max(w.box.bottom for w in every),
        ),
    )


def _numbers(words: Sequence[OcrWord]) -> list[OcrWord]:
    """The words with digits: Tesseract gives a lone dash a low confidence that says nothing
    about the bounds."""
    return [w for w in words if any(c.isdigit() for c in w.text)] or list(words)


def _flag(
    words: Sequence[OcrWord], value: Measured | None, value_words: Sequence[OcrWord]
) -> Field[str] | None:
    if words:
        flag = parse_flag(" ".join(w.text for w in words))
        if flag is not None:
            return field_from(flag, words)
        return field_from("?", words, 0.0, ("unreadable flag",))
    if value is not None and value.flag is not None:  # printed in the result's cell
        return field_from(value.flag, value_words[-1:])
    return None
