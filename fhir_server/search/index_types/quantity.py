"""quantity search parameters.

Stored: one entry per quantity with a value, the number entry (``{"v", "lo", "hi"}``, see
``number``) plus ``"s"`` system, ``"c"`` code and ``"u"`` unit where present. Values: Quantity,
SimpleQuantity, Age, Duration, Count, Distance (system, code, unit) and Money (currency as
the code, system ``urn:iso:std:iso:4217``).

Queries: ``[prefix]number`` (any unit), ``[prefix]number|system|code`` (system and code
exactly), ``[prefix]number||code`` (the code or the unit equals ``code``),
``[prefix]number|system|`` (any code of the system). Prefixes as for ``number``, applied to the
value.

UCUM: a quantity in a UCUM unit also stores its value in canonical units (``"k"`` the
canonical unit, ``"kv"``, ``"klo"``, ``"khi"`` the value and its precision range), and a
search ``number|http://unitsofmeasure.org|code`` in a unit UCUM knows compares there:
``5.4|http://unitsofmeasure.org|mg`` finds ``5400 ug``, ``37 Cel`` finds ``98.6 [degF]``; units
of another kind never match. A unit UCUM does not know is compared as written.

Not yet: Quantity.comparator (``<5``) is ignored, the value is taken as exact; a Range is not a
quantity value here.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import product
from typing import Any

from fhir_server.errors import Invalid
from fhir_server.search.index_types.common import (
    Conditions,
    entry_filter,
    no_modifier,
    split_escaped,
    split_prefix,
    unique,
)
from fhir_server.search.index_types.common import missing as missing  # part of the interface
from fhir_server.search.index_types.number import (
    number_conditions,
    number_entry,
    parse_decimal,
    to_decimal,
)
from fhir_server.search.index_types.number import sort_value as sort_value  # same: by value
from terminology import ucum

CURRENCY_SYSTEM = "urn:iso:std:iso:4217"
UCUM = "http://unitsofmeasure.org"


def index(values: list[Any]) -> list[Any]:
    entries = []
    for value in values:
        if not isinstance(value, dict):
            continue
        number = to_decimal(value.get("value"))
        if number is None:
            continue
        entry: dict[str, Any] = number_entry(number)
        currency = value.get("currency")
        if isinstance(currency, str) and currency:
            entry.update(s=CURRENCY_SYSTEM, c=currency)
        for field, key in (("s", "system"), ("c", "code"), ("u", "unit")):
            if isinstance(value.get(key), str) and value[key]:
                entry[field] = value[key]
        entry.update(_canonical_entry(entry))
        entries.append(entry)
    return unique(entries)


def _canonical_entry(entry: dict[str, Any]) -> dict[str, Any]:
    code = entry.get("c")
    if entry.get("s") != UCUM or not isinstance(code, str):
        return {}
    try:
        value, unit = _canonical_value(entry["v"], code)
        low, high = (_canonical_value(entry[k], code)[0] for k in ("lo", "hi"))
    except ucum.UnitError:
        return {}
    return {"k": unit, "kv": value, "klo": low, "khi": high}


def _canonical_value(value: float, code: str) -> tuple[float, str]:
    """``ucum.canonical_value``, remembered: lab values repeat, and an offset unit (Cel,
    [degF]) costs a pint conversion (≈ 25 µs) each time. Zero is not remembered: 0.0 and -0.0
    are one key but may convert to differently signed results."""
    if value == 0:
        return ucum.canonical_value(value, code)
    return _remembered_canonical_value(value, code)


@lru_cache(maxsize=8192)
def _remembered_canonical_value(value: float, code: str) -> tuple[float, str]:
    return ucum.canonical_value(value, code)


def _canonical_conditions(conditions: Conditions, code: str) -> Conditions:
    """Conditions on ``v``/``lo``/``hi`` in ``code``'s unit as conditions on the canonical
    fields: every bound converted (monotonic, also for offset units like Cel)."""
    out: Conditions = {}
    for key, condition in conditions.items():
        out[f"k{key}"] = {
            op: ucum.canonical_value(bound, code)[0] for op, bound in condition.items()
        }
    return out


def query(path: str, value: str, modifier: str | None) -> dict[str, Any]:
    no_modifier(modifier, "quantity")
    parts = split_escaped(value, "|")
    if len(parts) not in (1, 3):
        raise Invalid(f"Quantity {value[:60]!r} is not number, number|system|code or number||code")
    prefix, text = split_prefix(parts[0])
    numbers = number_conditions(prefix, parse_decimal(text, "quantity"))
    if len(parts) == 3 and parts[1] == UCUM and parts[2]:
        try:
            unit = ucum.canonical_value(1.0, parts[2])[1]
            canonical = [{"k": unit, **_canonical_conditions(n, parts[2])} for n in numbers]
            return entry_filter(path, canonical)
        except ucum.UnitError:
            pass  # not a unit UCUM knows: compared as written
    units = _unit_conditions(parts[1], parts[2]) if len(parts) == 3 else [{}]
    return entry_filter(path, [{**n, **u} for n, u in product(numbers, units)])


def _unit_conditions(system: str, code: str) -> list[Conditions]:
    if system and code:
        return [{"s": system, "c": code}]
    if system:
        return [{"s": system}]
    if code:
        return [{"c": code}, {"u": code}]
    return [{}]
