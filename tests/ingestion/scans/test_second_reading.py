"""A second reading of a low-confidence value, unit or range: confirmed when it agrees exactly,
in review otherwise; and ``Ocr.read_cell`` on real pages."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from ingestion.scans.checks import (
    RANGE_CROSS_CHECK_BELOW,
    RANGE_THRESHOLD,
    VALUE_THRESHOLD,
    check_page,
    check_row,
)
from ingestion.scans.extract import Field, Header, LabRowFields, Page, extract
from ingestion.scans.ocr import Ocr
from ingestion.scans.page import (
    NUMBER_CHARACTERS,
    UNIT_CHARACTERS,
    Box,
    CellReader,
    OcrResult,
    OcrWord,
)
from ingestion.scans.second_reading import CONFIRMED
from tests.ingestion.scans.corpus import Processed
from tests.ingestion.scans.test_checks import CODES, row

CELL = Box(400, 100, 460, 140)


class Reading:
    """A second reading that always reads ``text``; it records the boxes it was asked for."""

    def __init__(self, text: str, confidence: float = 96.0) -> None:
        self.text, self.confidence = text, confidence
        self.asked: list[Box] = []
        self.characters: list[str] = []

    def __call__(self, box: Box, characters: str = NUMBER_CHARACTERS) -> OcrResult:
        self.asked.append(box)
        self.characters.append(characters)
        words = tuple(OcrWord(part, self.confidence, box, 0) for part in self.text.split())
        return OcrResult(words, ())


def reading(text: str, confidence: float = 96.0) -> Reading:
    return Reading(text, confidence)


def low_value(value: str, confidence: float = 0.70) -> LabRowFields:
    fields = row("Potassium", value, "mmol/L", "3.5 - 5.1", confidence=confidence)
    assert fields.value is not None
    return LabRowFields(
        fields.test,
        Field(fields.value.value, value, confidence, CELL),
        fields.unit,
        fields.range,
        fields.flag,
        fields.box,
    )


def test_low_confidence_value_confirmed_by_the_second_reading_is_committed() -> None:
    fields = low_value("4.1")
    assert check_row(fields).status == "review"  # without a second reading
    reread = reading("4.1")
    decision = check_row(fields, reread)
    assert decision.accepted, decision.reasons
    assert reread.asked == [CELL]
    assert decision.result is not None and decision.result.value == Decimal("4.1")
    value = decision.row.value
    assert value is not None and value.confidence >= VALUE_THRESHOLD  # commit.py's own test
    assert CONFIRMED in value.notes
    page = check_page(Page(Header(), (fields,), reread), CODES)  # the OCR's reader, passed on
    assert page.rows[0].accepted


def test_readings_that_disagree_go_to_review() -> None:
    fields = low_value("2.91")  # TSH 2.51 read as 2.91 on a colour-cast page; read 2.51 again
    alone = check_row(fields)
    decision = check_row(fields, reading("2.51"))
    assert decision.status == "review"
    assert decision.reasons == alone.reasons
    assert decision.row.value is not None and decision.row.value.confidence == 0.70


def test_same_digits_other_decimal_point_disagrees() -> None:
    for second in ("41", "4.10", "<4.1", "4,1"):  # digits, decimals, comparator, comma
        assert check_row(low_value("4.1"), reading(second)).status == "review", second


def test_second_reading_must_parse_cleanly() -> None:
    for second in ("4.l", "4. 1", "", "4.1 4.1"):  # a repaired letter or point, nothing, junk
        assert check_row(low_value("4.1"), reading(second)).status == "review", second

    closed: CellReader = lambda box, characters=NUMBER_CHARACTERS: None  # noqa: E731  (closed)
    assert check_row(low_value("4.1"), closed).status == "review"


def test_agreeing_but_unconfident_readings_stay_in_review() -> None:
    # 1 - (1 - 0.30) * (1 - 0.50) = 0.65: two weak readings do not make a strong one.
    assert check_row(low_value("4.1", 0.30), reading("4.1", 50.0)).status == "review"


def test_confirmed_value_still_needs_every_other_check() -> None:
    fields = low_value("41")  # a lost decimal point against 3.5 - 5.1: read the same twice
    decision = check_row(fields, reading("41"))
    assert decision.status == "review"
    assert any("decimals" in reason or "plausible" in reason for reason in decision.reasons)


def test_low_confidence_range_confirmed() -> None:
    fields = row("Potassium", "4.1", "mmol/L", "3.5 - 5.1")
    assert fields.range is not None
    weak = Field(fields.range.value, "3.5 -5.1", RANGE_THRESHOLD - 0.3, CELL)
    fields = LabRowFields(fields.test, fields.value, fields.unit, weak, None, fields.box)
    assert check_row(fields).status == "review"
    assert check_row(fields, reading("3.5-5.1")).accepted
    assert check_row(fields, reading("3.0-5.1")).status == "review"


def weak_unit(printed: str, confidence: float = 0.2) -> LabRowFields:
    fields = row("Platelets", "272", "10^9/L", "150 - 400")
    assert fields.unit is not None
    return dataclasses.replace(fields, unit=Field(fields.unit.value, printed, confidence, CELL))


def test_low_confidence_unit_confirmed_by_the_second_reading() -> None:
    fields = weak_unit("10A9/L")  # Tesseract's confidence collapses on a misread caret
    assert check_row(fields).status == "review"
    reread = reading("10^9/L", 90.0)
    decision = check_row(fields, reread)
    assert decision.accepted, decision.reasons
    assert reread.characters == [UNIT_CHARACTERS]  # read as a unit, not as digits
    assert decision.row.unit is not None and CONFIRMED in decision.row.unit.notes
    # A repaired caret is the same unit, its confidence counting for 0.9 of its own: 0.2 and
    # 0.55 * 0.9 make 0.596.
    assert check_row(fields, reading("10%9/L", 55.0)).accepted
    assert check_row(fields, reading("10%9/L", 30.0)).status == "review"  # 0.416


def test_a_second_reading_of_another_unit_goes_to_review() -> None:
    for second in ("10^6/L", "10^12/L", "g/L", "", "LO? O/L"):
        assert check_row(weak_unit("10A9/L"), reading(second)).status == "review", second


def test_confident_rows_are_not_read_again() -> None:
    reread = reading("9.9")
    assert check_row(row("Potassium", "4.1", "mmol/L", "3.5 - 5.1"), reread).accepted
    assert reread.asked == []


# -- on real pages ---------------------------------------------------------------------------


def test_read_cell_reads_value_cells_again(read_corpus: list[tuple[Processed, OcrResult]]) -> None:
    same = cells = 0
    for _, result in read_corpus[:6]:
        assert result.reread is not None
        for fields in extract(result).lab_rows:
            if fields.value is None or fields.value.box is None:
                continue
            second = result.reread(fields.value.box)
            assert second is not None
            cells += 1
            same += " ".join(word.text for word in second.words) == fields.value.text
            for word in second.words:  # boxes in the page's pixels, around the cell
                assert word.box.left >= fields.value.box.left - 20
                assert word.box.right <= fields.value.box.right + 20
    assert cells >= 40
    assert same >= 0.9 * cells, (same, cells)


def test_read_cell_leaves_the_page_reading_unchanged(corpus: list[Processed]) -> None:
    item = corpus[1]
    mask = [code.box for code in item.barcodes]
    with Ocr() as ocr:
        before = ocr.read(item.normalized.gray, mask=mask)
        [first, *_] = extract(before).lab_rows
        assert first.value is not None and first.value.box is not None
        assert before.reread is not None
        assert before.reread(first.value.box) is not None
        after = ocr.read(item.normalized.gray, mask=mask)
        assert after.words == before.words  # page segmentation and characters restored
    assert before.reread(first.value.box) is None  # closed: no reading, no crash


def test_an_accepted_range_below_the_cross_check_is_read_again_and_a_difference_is_review() -> None:
    """A range read 2.0 - 7.6 at 0.70 (over its threshold) when the page says 2.5 - 7.8: the
    second reading disagrees, so the row goes to review instead of storing a wrong range."""
    fields = row("Potassium", "4.1", "mmol/L", "3.5 - 5.1")
    assert fields.range is not None
    middling = Field(fields.range.value, "3.5 - 5.1", RANGE_CROSS_CHECK_BELOW - 0.1, CELL)
    fields = LabRowFields(fields.test, fields.value, fields.unit, middling, None, fields.box)
    assert check_row(fields).accepted  # without a second reading: as before
    differs = check_row(fields, reading("3.0-5.1"))
    assert differs.status == "review"
    assert differs.reasons == ("the reference range read differently a second time",)
    assert check_row(fields, reading("3.5-5.1")).accepted  # agrees
    assert check_row(fields, reading("3.5-5.l")).accepted  # nothing clean: contradicts nothing
