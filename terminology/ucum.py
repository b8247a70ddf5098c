"""UCUM units: validation, canonical form, conversion between commensurable units, and reading
the units labs print on paper ("mg/dl", "x10^9/L", "mIU/L") as UCUM codes.

Parsing and unit arithmetic come from ``ucumvert`` (a UCUM grammar for lark, with definitions for
pint; no network at run time). This module adds what UCUM says and pint does not:

- annotations (``{ratio}``, ``mL/min/{1.73_m2}``) carry no meaning: ``{INR}`` is ``1``;
- arbitrary units (``[IU]``, ``[arb'U]``, ...) are commensurable only with the same arbitrary
  unit, never with plain numbers (pint would make ``[IU]/L`` equal to ``/L``);
- ``[pH]`` (which ucumvert does not define) is its own unit, commensurable only with itself.

Parses are cached: a first parse costs about a millisecond, a repeated one nothing.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

# Arbitrary units of UCUM (its "arbitrary" flag): no conversion to anything else.
_ARBITRARY = re.compile(
    r"\[(IU|iU|arb'U|USP'U|GPL'U|MPL'U|APL'U|beth'U|anti'Xa'U|todd'U|dye'U|smgy'U|bdsk'U|ka'U"
    r"|knk'U|mclg'U|tb'U|CCID_50|TCID_50|EID_50|PFU|FFU|CFU|IR|BAU|AU|Amb'a'1'U|PNU|Lf|D'ag'U"
    r"|FEU|ELU|EU)\]"
)
_ANNOTATION_ONLY = re.compile(r"\{[^{}]*\}")
_PH = "[pH]"
# pint base units -> UCUM base units, with the factor from the one to the other.
_BASE = {
    "kilogram": ("g", 1000.0),
    "meter": ("m", 1.0),
    "second": ("s", 1.0),
    "mole": ("mol", 1.0),
    "kelvin": ("K", 1.0),
    "ampere": ("A", 1.0),
    "candela": ("cd", 1.0),
    "radian": ("rad", 1.0),
}
_SIGNIFICANT = 12  # float noise from pint (9.999999999999998) is rounded away


class UnitError(ValueError):
    """Not a UCUM unit, or two units that cannot be converted into each other."""


@dataclass(frozen=True, slots=True)
class Canonical:
    """``value * factor`` in ``unit`` is the same quantity as ``value`` in the original unit."""

    factor: float
    unit: str  # UCUM base units, e.g. "g.m-3", "mol.m-3.s-1", "1", "[IU].m-3"


def warm_up() -> None:
    """Load the UCUM parser now (about 2 s: lark grammar, pint registry) rather than during the
    first request that needs it."""
    _registry()


def is_valid(code: str) -> bool:
    try:
        _parse(code)
    except UnitError:
        return False
    return True


@lru_cache(maxsize=2048)
def canonical(code: str) -> Canonical:
    """The canonical form of a multiplicative unit (not Cel or [degF]: see canonical_value)."""
    parsed = _parse(code)
    if parsed.special is not None:
        return Canonical(1.0, parsed.special)
    assert parsed.quantity is not None
    if parsed.offset:
        raise UnitError(f"{code!r} has an offset (like Cel): use canonical_value")
    return _canonical_of(parsed.quantity, parsed.arbitrary)


def canonical_value(value: float, code: str) -> tuple[float, str]:
    """(value, unit) in canonical units; also right for offset units (37 Cel -> 310.15 K)."""
    parsed = _parse(code)
    if parsed.special is not None:
        return value, parsed.special
    assert parsed.quantity is not None
    if not parsed.offset:
        found = canonical(code)  # cached per unit: pint's conversion costs ~60 µs a call
        return _round(value * found.factor), found.unit
    base = _registry().Quantity(value, parsed.quantity.units).to_base_units()
    return _round(float(base.magnitude)), _unit_text(base, parsed.arbitrary)[1]


def commensurable(a: str, b: str) -> bool:
    try:
        return _dimension_of(a) == _dimension_of(b)
    except UnitError:
        return False


def convert(value: float, from_code: str, to_code: str) -> float:
    source, target = _parse(from_code), _parse(to_code)
    if _dimension(source) != _dimension(target):
        raise UnitError(f"{from_code!r} and {to_code!r} are not commensurable")
    if source.special is not None:
        return value
    assert source.quantity is not None and target.quantity is not None
    registry = _registry()
    # Offset units (Cel) only convert as whole quantities; their scale is always 1.
    amount = registry.Quantity(value * source.scale, source.quantity.units)
    result = amount.to(target.quantity.units).magnitude / target.scale
    return _round(float(result))


# -- printed units ---------------------------------------------------------------------------

# Printed forms that no rule below would turn into UCUM (keys lowercased, spaces removed).
_PRINTED: dict[str, str] = {
    "k/ul": "10*3/uL",
    "k/mm3": "10*3/uL",
    "thou/ul": "10*3/uL",
    "/nl": "10*3/uL",
    "g/l(cells)": "10*9/L",
    "gpt/l": "10*9/L",
    "g/l(cel)": "10*9/L",
    "m/ul": "10*6/uL",
    "mill/ul": "10*6/uL",
    "mil/ul": "10*6/uL",
    "tpt/l": "10*12/L",
    "/pl": "10*6/uL",
    "sec": "s",
    "secs": "s",
    "seconds": "s",
    "second": "s",
    "mm/hr": "mm/h",
    "mm/1hr": "mm/h",
    "mm/1h": "mm/h",
    "mm/hour": "mm/h",
    "ratio": "{ratio}",
    "inr": "{INR}",
    "index": "{index}",
    "ph": "[pH]",
    "/hpf": "/[HPF]",
    "/lpf": "/[LPF]",
    "cells/hpf": "/[HPF]",
    "cells/ul": "/uL",
    "meq/l": "meq/L",
    "mosm/kg": "mosm/kg",
    "iu/l": "[IU]/L",
    "iu/ml": "[IU]/mL",
    "miu/l": "m[IU]/L",
    "miu/ml": "m[IU]/mL",
    "uiu/ml": "u[IU]/mL",
    "µiu/ml": "u[IU]/mL",
    "u/l": "U/L",
    "u/ml": "U/mL",
    "ku/l": "kU/L",
    "%": "%",
    "percent": "%",
    "fl": "fL",
    "pg": "pg",
    "pg/cell": "pg",
    "ml/min/1.73m2": "mL/min/{1.73_m2}",
    "ml/min/1,73m2": "mL/min/{1.73_m2}",
    "ml/min/1.73m²": "mL/min/{1.73_m2}",
    "ml/min/1,73m²": "mL/min/{1.73_m2}",
    "mg/g": "mg/g{creat}",
    "mg/gcreat": "mg/g{creat}",
    "mg/mmol": "mg/mmol{creat}",
    "mmol/mol": "mmol/mol",
    "l/l": "L/L",
}
_POWER = re.compile(r"^(?:x|\*)?10(?:\^|e|\*\*|\*)?(\d{1,2})/(.+)$")
_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")
_ATOMS = {
    "g": "g",
    "kg": "kg",
    "mg": "mg",
    "ug": "ug",
    "ng": "ng",
    "pg": "pg",
    "mol": "mol",
    "mmol": "mmol",
    "umol": "umol",
    "nmol": "nmol",
    "pmol": "pmol",
    "l": "L",
    "dl": "dL",
    "ml": "mL",
    "ul": "uL",
    "nl": "nL",
    "fl": "fL",
    "mm3": "mm3",
    "u": "U",
    "iu": "[IU]",
    "miu": "m[IU]",
    "uiu": "u[IU]",
    "meq": "meq",
    "eq": "eq",
    "s": "s",
    "min": "min",
    "h": "h",
    "d": "d",
}


def from_printed(text: str) -> str | None:
    """The UCUM code of a unit as printed ("mg/dl" -> "mg/dL"), or None when unrecognised."""
    cleaned = (
        text.strip()
        .translate(_SUPERSCRIPTS)
        .replace("µ", "u")
        .replace("μ", "u")
        .replace("mcg", "ug")
        .replace("×", "x")
        .replace(" ", "")
    )
    if not cleaned or len(cleaned) > 40:
        return None
    key = cleaned.lower()
    candidates = [_PRINTED.get(key)]
    power = _POWER.match(key)
    if power:
        denominator = _ATOMS.get(power.group(2))
        if denominator is not None:
            candidates.append(f"10*{power.group(1)}/{denominator}")
    parts = key.split("/")
    if all(p in _ATOMS for p in parts if p) and parts[0]:
        candidates.append("/".join(_ATOMS[p] for p in parts))
    candidates.append(cleaned)  # already UCUM, or nothing we know
    for candidate in candidates:
        if candidate and is_valid(candidate):
            return candidate
    return None


# -- parsing ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Parsed:
    quantity: Any  # a pint Quantity (1 of the unit), None for special units
    scale: float  # magnitude of that quantity (10*3/uL parses as 1000 of 1/uL)
    arbitrary: tuple[str, ...]  # the arbitrary units it contains, normalized ([iU] -> [IU])
    special: str | None = None  # [pH]
    offset: bool = False  # Cel, [degF]: zero is not zero


_REGISTRY_LOCK = threading.Lock()


@cache
def _registry() -> Any:
    # One registry per process, even when a warm-up thread and a request ask at once: pint
    # refuses to combine quantities of two registries (and functools.cache alone may build two).
    with _REGISTRY_LOCK:
        return _one_registry()


@cache
def _one_registry() -> Any:
    from ucumvert import PintUcumRegistry

    return PintUcumRegistry()


@lru_cache(maxsize=2048)
def _parse(code: str) -> _Parsed:
    if not isinstance(code, str) or not code or len(code) > 100 or code != code.strip():
        raise UnitError(f"{str(code)[:40]!r} is not a UCUM unit")
    if code == _PH:
        return _Parsed(None, 1.0, (), _PH)
    without_annotations = _ANNOTATION_ONLY.sub("", code)
    if without_annotations in ("", "/"):
        code, without_annotations = "1", "1"
    arbitrary = tuple(sorted({"[IU]" if m == "iU" else f"[{m}]" for m in _ARBITRARY.findall(code)}))
    try:
        parsed = _registry().from_ucum(code)
    except Exception as exc:  # ucumvert raises lark and pint errors of many kinds
        raise UnitError(f"{code[:40]!r} is not a UCUM unit") from exc
    if not hasattr(parsed, "units"):  # an annotation alone parses to a bare token
        parsed = _registry().from_ucum("1")
    zero = _registry().Quantity(0, parsed.units).to_base_units().magnitude
    return _Parsed(parsed, float(parsed.magnitude), arbitrary, offset=zero != 0)


@lru_cache(maxsize=2048)
def _dimension_of(code: str) -> tuple[Any, ...]:
    return _dimension(_parse(code))


def _dimension(parsed: _Parsed) -> tuple[Any, ...]:
    if parsed.special is not None:
        return (parsed.special,)
    return (str(parsed.quantity.dimensionality), parsed.arbitrary)


def _canonical_of(quantity: Any, arbitrary: tuple[str, ...]) -> Canonical:
    base = quantity.to_base_units()
    factor, unit = _unit_text(base, arbitrary)
    return Canonical(_round(float(base.magnitude) * factor), unit)


def _unit_text(base: Any, arbitrary: tuple[str, ...]) -> tuple[float, str]:
    """(factor, text) of a pint base-unit quantity as UCUM base units."""
    factor = 1.0
    atoms: list[str] = list(arbitrary)
    for name, exponent in sorted(base.units._units.items()):
        if name not in _BASE:
            continue  # dimensionless helpers (percent, _10) were folded into the magnitude
        symbol, scale = _BASE[name]
        factor *= scale**exponent
        atoms.append(symbol if exponent == 1 else f"{symbol}{int(exponent)}")
    return factor, ".".join(atoms) or "1"


def _round(value: float) -> float:
    if value == 0 or not math.isfinite(value):
        return value
    digits = _SIGNIFICANT - math.floor(math.log10(abs(value))) - 1
    return round(value, digits)
