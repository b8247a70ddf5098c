"""number search parameters.

Stored: one entry per value, ``{"v": value, "lo": low, "hi": high}`` (floats), where [low, high)
is the value's implicit precision range, half a unit of its last significant digit either side:
``100`` -> [99.5, 100.5), ``100.00`` -> [99.995, 100.005), ``1e2`` -> [50, 150) (one
significant figure). Values: integers, decimals (Decimal keeps the written precision; a float
has the precision of its shortest repr) and numeric strings; booleans and non-finite values
are dropped.

A query value ``[prefix]number`` with value s has the implicit range [L, H) likewise. For a
stored entry:

    eq  L <= v < H           (the value lies in the search value's precision range)
    ne  v < L or v >= H
    gt  v > s                (against the exact search value, as R4's examples say)
    lt  v < s
    ge  v >= s
    le  v <= s
    sa  lo >= H              (the value's own range starts after the search range)
    eb  hi <= L              (the value's own range ends before the search range)
    ap  lo < s + d and hi > s - d, d = max(10% of |s|, (H - L) / 2)
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from fhir_server.errors import Invalid
from fhir_server.search.index_types.common import (
    Conditions,
    entry_filter,
    no_modifier,
    split_prefix,
    unescape,
    unique,
)
from fhir_server.search.index_types.common import missing as missing  # part of the interface

_NUMBER = re.compile(r"-?[0-9]{1,100}(?:\.[0-9]{1,100})?(?:[eE][+-]?[0-9]{1,3})?")
_EXPONENT_LIMIT = 300  # beyond this a float is 0 or infinite


def index(values: list[Any]) -> list[Any]:
    entries = []
    for value in values:
        number = to_decimal(value)
        if number is not None:
            entries.append(number_entry(number))
    return unique(entries)


def query(path: str, value: str, modifier: str | None) -> dict[str, Any]:
    no_modifier(modifier, "number")
    prefix, text = split_prefix(unescape(value))
    return entry_filter(path, number_conditions(prefix, parse_decimal(text, "number")))


def sort_value(entries: list[Any], descending: bool) -> Any:
    """The lowest value ascending, the highest descending."""
    numbers = [entry["v"] for entry in entries if isinstance(entry, dict) and "v" in entry]
    if not numbers:
        return None
    return max(numbers) if descending else min(numbers)


def parse_decimal(text: str, what: str) -> Decimal:
    if not _NUMBER.fullmatch(text):
        raise Invalid(f"{what}: {text[:40]!r} is not a number")
    number = Decimal(text)
    if abs(number.adjusted()) > _EXPONENT_LIMIT:
        raise Invalid(f"{what}: {text[:40]!r} is out of range")
    return number


def to_decimal(value: Any) -> Decimal | None:
    """A raw FHIR number as a Decimal with its written precision, or None."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int):
            number = Decimal(value)
        elif isinstance(value, float):
            number = Decimal(repr(value))
        elif isinstance(value, Decimal):
            number = value
        elif isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
            number = Decimal(value.strip())
        else:
            return None
    except InvalidOperation:  # nan, inf
        return None
    if not number.is_finite() or abs(number.adjusted()) > _EXPONENT_LIMIT:
        return None
    return number


def number_entry(number: Decimal) -> dict[str, float]:
    low, high = precision_range(number)
    return {"v": float(number), "lo": float(low), "hi": float(high)}


def precision_range(number: Decimal) -> tuple[Decimal, Decimal]:
    exponent = int(number.as_tuple().exponent)  # an int for finite numbers
    half = Decimal(5).scaleb(exponent - 1)
    return number - half, number + half


def number_conditions(prefix: str, number: Decimal) -> list[Conditions]:
    """The alternatives for ``prefix`` and search value ``number`` over v/lo/hi entries."""
    low, high = precision_range(number)
    s, lo, hi = float(number), float(low), float(high)
    if prefix == "ap":
        margin = max(abs(number) / 10, (high - low) / 2)
        return [{"lo": {"$lt": float(number + margin)}, "hi": {"$gt": float(number - margin)}}]
    alternatives: dict[str, list[Conditions]] = {
        "eq": [{"v": {"$gte": lo, "$lt": hi}}],
        "ne": [{"v": {"$lt": lo}}, {"v": {"$gte": hi}}],
        "gt": [{"v": {"$gt": s}}],
        "lt": [{"v": {"$lt": s}}],
        "ge": [{"v": {"$gte": s}}],
        "le": [{"v": {"$lte": s}}],
        "sa": [{"lo": {"$gte": hi}}],
        "eb": [{"hi": {"$lte": lo}}],
    }
    return alternatives[prefix]
