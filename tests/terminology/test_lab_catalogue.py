"""Plausible value ranges: the check that catches a lost decimal point."""

from __future__ import annotations

import pytest

from terminology.lab_catalogue import check_plausible, lab_test


@pytest.mark.parametrize(
    ("code", "value", "unit", "plausible"),
    [
        ("2823-3", 3.7, "mmol/L", True),  # potassium
        ("2823-3", 37, "mmol/L", False),  # ... with its decimal point lost
        ("2823-3", 3.7, "meq/L", True),  # a commensurable unit is converted
        ("718-7", 13.5, "g/dL", True),  # hemoglobin
        ("718-7", 135, "g/dL", False),
        ("718-7", 135, "g/L", True),  # the same value in g/L is fine
        ("718-7", 1.35, "g/dL", True),  # very low but alive
        ("718-7", 0.135, "g/dL", False),
        ("6690-2", 7.2, None, True),  # default unit: the test's first
        ("6690-2", 720, None, False),
        ("4548-4", 6.1, "%", True),
        ("4548-4", 61, "%", False),
        ("5803-2", 6.0, "[pH]", True),
        ("5803-2", 60, "[pH]", False),
        # cannot be said: a unit that does not convert, a test with no range, an unknown code
        ("2823-3", 3.7, "mg/dL", None),
        ("5802-4", 1, None, None),
        ("99999-9", 1, None, None),
    ],
)
def test_check_plausible(code: str, value: float, unit: str | None, plausible: bool | None) -> None:
    assert check_plausible(code, value, unit) is plausible


def test_lab_test_record() -> None:
    test = lab_test("718-7")
    assert test is not None
    assert test.panel == "cbc"
    assert test.units[0] == "g/dL"
    assert "HGB" in test.abbreviations and "Hemoglobin" in test.names


def test_a_printed_unit_alias_means_the_first_unit() -> None:
    """TSH printed in mU/L (or µU/mL) is m[IU]/L number for number; UCUM's U is another unit."""
    from terminology.lab_catalogue import lab_test
    from terminology.lab_matcher import match_lab_test

    tsh = lab_test("3016-3")
    assert tsh is not None
    assert tsh.reported_unit("mU/L") == "m[IU]/L" and tsh.reported_unit("uU/mL") == "m[IU]/L"
    assert tsh.reported_unit("mg/dL") == "mg/dL"
    assert tsh.plausible(2.5, "mU/L") is True and tsh.plausible(2500, "mU/L") is False
    (best, *_) = match_lab_test("TSH", "mU/L")
    assert best.code == "3016-3" and best.accepted and best.unit_fit == "listed"
    glucose = lab_test("2345-7")
    assert glucose is not None and glucose.reported_unit("mU/L") == "mU/L"  # TSH's alias only
