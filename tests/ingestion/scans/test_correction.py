"""A reviewer's typed lab value (ingestion/scans/correction.py): parsed as typed, never repaired
as OCR text is."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fhir_server.errors import Invalid
from ingestion.scans.correction import LabValue, check_value

POTASSIUM = "2823-3"


def test_a_typed_value_is_checked_as_a_read_one() -> None:
    checked = check_value(LabValue(POTASSIUM, "5.9", "mmol/L", "3.5 - 5.1"))
    assert checked.reasons == ()
    assert (checked.result.value, checked.result.flag) == (Decimal("5.9"), "H")
    comma = check_value(LabValue(POTASSIUM, "5,9", "mmol/L", "3,5 - 5,1"))  # European typing
    assert comma.result.value == Decimal("5.9") and comma.result.low == Decimal("3.5")


@pytest.mark.parametrize(
    ("value", "reference", "field"),
    [
        ("Al", "3.5 - 5.1", "value"),  # OCR would read 41; a reviewer typed letters
        ("4.1.", "3.5 - 5.1", "value"),
        ("3:7", "3.5 - 5.1", "value"),
        ("1,200", "3.5 - 5.1", "value"),  # thousands or decimals?
        ("4.1", "3:5 = 5.1", "range"),
    ],
)
def test_typed_text_is_not_repaired_as_ocr_text_is(value: str, reference: str, field: str) -> None:
    with pytest.raises(Invalid) as refused:
        check_value(LabValue(POTASSIUM, value, "mmol/L", reference))
    assert [issue.expression for issue in refused.value.issues] == [(field,)]


def test_the_pages_printed_text_is_parsed_as_the_page_was() -> None:
    # Nothing typed: the Task's candidate, read from "4.l" on the page, is accepted as shown.
    checked = check_value(LabValue(POTASSIUM, "4.l", "mmol/L", "3:5 = 5.1"), typed=())
    assert (checked.result.value, checked.result.low) == (Decimal("4.1"), Decimal("3.5"))
