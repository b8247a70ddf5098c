"""The laboratory tests medrec knows, read from the bundled LOINC fragment
(``content/loinc/CodeSystem-loinc-subset.json``): printed names, abbreviations, UCUM units and a
plausible value range per test.

The plausible range catches a misread number, above all a lost decimal point (3.7 read as 37):
it is "could a living patient have this?", far wider than a reference range.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from terminology import ucum
from terminology.concepts import CodeSystemIndex
from terminology.content import bundled_content

LOINC = "http://loinc.org"
DESIGNATION_USE = "https://medrec.dev/fhir/CodeSystem/designation-use"


@dataclass(frozen=True, slots=True)
class LabTest:
    code: str
    display: str
    panel: str
    units: tuple[str, ...]  # UCUM; low and high are in the first
    low: float | None
    high: float | None
    names: tuple[str, ...]  # printed names, any language
    abbreviations: tuple[str, ...]
    # Units reports print for this test that mean the first unit, number for number
    # (TSH "mU/L" is m[IU]/L, not UCUM's enzyme unit).
    printed_units: tuple[str, ...] = ()

    def reported_unit(self, unit: str) -> str:
        """``unit`` as the test is reported in: a printed alias becomes the first unit."""
        return self.units[0] if unit in self.printed_units and self.units else unit

    def plausible(self, value: float, unit: str | None = None) -> bool | None:
        """Whether ``value`` (in ``unit``, default the test's first unit) is plausible; None when
        it cannot be said (no range, or a unit not convertible to the test's)."""
        if self.low is None or self.high is None or not self.units:
            return None
        unit = self.reported_unit(unit) if unit is not None else None
        if unit is not None and unit != self.units[0]:
            try:
                value = ucum.convert(value, unit, self.units[0])
            except ucum.UnitError:
                return None
        return self.low <= value <= self.high


def catalogue_from(cs: CodeSystemIndex) -> tuple[LabTest, ...]:
    tests = []
    for concept in cs:
        if not any(p.value == "lab" for p in concept.values("kind")):
            continue
        names, abbreviations = [], []
        for d in concept.designations:
            use = (
                (d.use or {}).get("code")
                if (d.use or {}).get("system") == DESIGNATION_USE
                else None
            )
            if use == "printed-name":
                names.append(d.value)
            elif use == "abbreviation":
                abbreviations.append(d.value)
        low = [float(p.value) for p in concept.values("plausible-low")]
        high = [float(p.value) for p in concept.values("plausible-high")]
        panel = [str(p.value) for p in concept.values("panel")]
        tests.append(
            LabTest(
                code=concept.code,
                display=concept.display or concept.code,
                panel=panel[0] if panel else "",
                units=tuple(str(p.value) for p in concept.values("unit")),
                low=low[0] if low else None,
                high=high[0] if high else None,
                names=tuple(names),
                abbreviations=tuple(abbreviations),
                printed_units=tuple(str(p.value) for p in concept.values("printed-unit")),
            )
        )
    return tuple(tests)


@cache
def default_catalogue() -> tuple[LabTest, ...]:
    cs = bundled_content().code_system(LOINC)
    if cs is None:
        raise RuntimeError("the bundled LOINC subset is missing from terminology/content")
    return catalogue_from(cs)


@cache
def _by_code() -> dict[str, LabTest]:
    return {test.code: test for test in default_catalogue()}


def lab_test(code: str) -> LabTest | None:
    return _by_code().get(code)


def check_plausible(code: str, value: float, unit: str | None = None) -> bool | None:
    """Whether a result of the LOINC test ``code`` is plausible; None when unknown."""
    test = lab_test(code)
    return None if test is None else test.plausible(value, unit)
