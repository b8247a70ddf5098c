"""quantity search parameters.

Stored: one entry per quantity with a value, the number entry (``{"v", "lo", "hi"}``, see
``number``) plus ``"s"`` system, ``"c"`` code and ``"u"`` unit where present. Values: Quantity,
SimpleQuantity, Age, Duration, Count, Distance (system, code, unit) and Money (currency as
the code, system ``urn:iso:std:iso:4217``).

Queries: ``[prefix]number`` (any unit), ``[prefix]number|system|code`` (system and code
exactly), ``[prefix]number||code`` (the code or the unit equals ``code``),
``[prefix]number|system|`` (any code of the system). Prefixes as for ``number``, applied to the
value.

Not yet: UCUM conversion (``5.4|http://unitsofmeasure.org|mg`` does not find ``5400`` ``ug``;
values are compared only as written, in the unit asked for); Quantity.comparator (``<5``) is
ignored, the value is taken as exact; a Range is not a quantity value here.
"""

from __future__ import annotations

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

CURRENCY_SYSTEM = "urn:iso:std:iso:4217"


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
        entries.append(entry)
    return unique(entries)


def query(path: str, value: str, modifier: str | None) -> dict[str, Any]:
    no_modifier(modifier, "quantity")
    parts = split_escaped(value, "|")
    if len(parts) not in (1, 3):
        raise Invalid(f"Quantity {value[:60]!r} is not number, number|system|code or number||code")
    prefix, text = split_prefix(parts[0])
    numbers = number_conditions(prefix, parse_decimal(text, "quantity"))
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
