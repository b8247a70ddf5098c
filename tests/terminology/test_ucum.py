"""UCUM units: validation, canonical form, conversion, commensurability, printed units."""

from __future__ import annotations

import pytest

from terminology import ucum


@pytest.mark.parametrize(
    ("code", "valid"),
    [
        ("mg/dL", True),
        ("10*9/L", True),
        ("m[IU]/L", True),
        ("{ratio}", True),
        ("[pH]", True),
        ("mL/min/{1.73_m2}", True),
        ("/[HPF]", True),
        ("%", True),
        ("Cel", True),
        ("1", True),
        ("mEq/L", False),  # UCUM spells it meq
        ("mIU/L", False),  # and international units in brackets
        ("MG/DL", False),
        ("foo", False),
        ("", False),
        (" mg", False),
        ("x" * 200, False),
    ],
)
def test_is_valid(code: str, valid: bool) -> None:
    assert ucum.is_valid(code) is valid


@pytest.mark.parametrize(
    ("code", "factor", "unit"),
    [
        ("g/dL", 10000.0, "g.m-3"),
        ("mg/dL", 10.0, "g.m-3"),
        ("g/L", 1000.0, "g.m-3"),
        ("mmol/L", 1.0, "m-3.mol"),
        ("meq/L", 1.0, "m-3.mol"),
        ("10*3/uL", 1e12, "m-3"),
        ("10*9/L", 1e12, "m-3"),
        ("%", 0.01, "1"),
        ("{INR}", 1.0, "1"),
        ("[IU]/L", 1000.0, "[IU].m-3"),
        ("m[IU]/L", 1.0, "[IU].m-3"),
        ("u[IU]/mL", 1.0, "[IU].m-3"),
        ("[pH]", 1.0, "[pH]"),
    ],
)
def test_canonical(code: str, factor: float, unit: str) -> None:
    found = ucum.canonical(code)
    assert found.unit == unit
    assert found.factor == pytest.approx(factor, rel=1e-12)


def test_canonical_value_handles_offset_units() -> None:
    assert ucum.canonical_value(37, "Cel") == (310.15, "K")
    assert ucum.canonical_value(5.5, "mmol/L") == (5.5, "m-3.mol")
    with pytest.raises(ucum.UnitError, match="offset"):
        ucum.canonical("Cel")


@pytest.mark.parametrize(
    ("value", "source", "target", "expected"),
    [
        (5, "mg/dL", "g/L", 0.05),
        (13.5, "g/dL", "g/L", 135),
        (7.5, "10*3/uL", "10*9/L", 7.5),
        (4.2, "10*6/uL", "10*12/L", 4.2),
        (2.5, "m[IU]/L", "u[IU]/mL", 2.5),
        (140, "meq/L", "mmol/L", 140),
        (37, "Cel", "[degF]", 98.6),
        (7.2, "[pH]", "[pH]", 7.2),
    ],
)
def test_convert(value: float, source: str, target: str, expected: float) -> None:
    assert ucum.convert(value, source, target) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("a", "b", "same_kind"),
    [
        ("mg/dL", "g/L", True),
        ("mg/dL", "mmol/L", False),  # mass vs substance: needs a molar mass
        ("[IU]/L", "m[IU]/mL", True),
        ("[IU]/L", "/L", False),  # arbitrary units are not numbers
        ("[IU]/L", "[arb'U]/L", False),
        ("%", "1", True),
        ("[pH]", "1", False),
        ("U/L", "umol/min/L", True),  # U is umol/min in UCUM
        ("mg/dL", "nonsense", False),
    ],
)
def test_commensurable(a: str, b: str, same_kind: bool) -> None:
    assert ucum.commensurable(a, b) is same_kind


def test_convert_refuses_incommensurable_units() -> None:
    with pytest.raises(ucum.UnitError, match="not commensurable"):
        ucum.convert(1, "mg/dL", "mmol/L")
    with pytest.raises(ucum.UnitError, match="not a UCUM unit"):
        ucum.convert(1, "mg/dl/", "g/L")


@pytest.mark.parametrize(
    ("printed", "code"),
    [
        ("mg/dl", "mg/dL"),
        ("MG/DL", "mg/dL"),
        ("g/dl", "g/dL"),
        ("mmol/l", "mmol/L"),
        ("µmol/L", "umol/L"),
        ("μmol/l", "umol/L"),
        ("mcg/dL", "ug/dL"),
        ("ng/ml", "ng/mL"),
        ("x10^9/L", "10*9/L"),
        ("10^9/l", "10*9/L"),
        ("×10⁹/L", "10*9/L"),
        ("x10E3/uL", "10*3/uL"),
        ("K/uL", "10*3/uL"),
        ("M/uL", "10*6/uL"),
        ("10*12/L", "10*12/L"),
        ("mEq/L", "meq/L"),
        ("mIU/L", "m[IU]/L"),
        ("µIU/mL", "u[IU]/mL"),
        ("IU/L", "[IU]/L"),
        ("U/L", "U/L"),
        ("fl", "fL"),
        ("%", "%"),
        ("sec", "s"),
        ("mm/hr", "mm/h"),
        ("mL/min/1.73m²", "mL/min/{1.73_m2}"),
        ("ml/min/1,73m2", "mL/min/{1.73_m2}"),
        ("/HPF", "/[HPF]"),
        ("ratio", "{ratio}"),
        ("INR", "{INR}"),
        ("pH", "[pH]"),
        ("mg/g", "mg/g{creat}"),
        ("", None),
        ("xyz", None),
        ("mg/dL!!", None),
        ("1" * 60, None),
    ],
)
def test_from_printed(printed: str, code: str | None) -> None:
    assert ucum.from_printed(printed) == code


def test_a_warm_up_thread_and_requests_share_one_registry() -> None:
    """A request parsing a unit while the app's warm-up thread builds the parser: pint refuses
    quantities of two registries, so a second registry made valid units look invalid."""
    import threading

    from terminology import ucum

    ucum._registry.cache_clear()
    ucum._one_registry.cache_clear()
    ucum._parse.cache_clear()
    ucum._dimension_of.cache_clear()
    answers: list[bool] = []
    threads = [threading.Thread(target=ucum.warm_up)] + [
        threading.Thread(target=lambda unit=unit: answers.append(ucum.is_valid(unit)))
        for unit in ("Cel", "mg/dL", "mmol/L")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [True, True, True]
    assert ucum._registry() is ucum._one_registry()
