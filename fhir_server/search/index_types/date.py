"""date search parameters.

Stored: one entry per value, ``{"lo": low, "hi": high}``, the [low, high) range of UTC instants
the value covers at its precision: ``2020`` is [2020-01-01, 2021-01-01), ``2020-03-04T10:00Z``
is [10:00, 10:01). Values: date, dateTime and instant strings; Period (low from start, high
from the end of end's precision; a missing start is MIN, a missing end is MAX, both tz-aware);
Timing (each event, and repeat.boundsPeriod). Ranges are widened to whole milliseconds, the
precision BSON dates keep. Values that do not parse are dropped.

A query value ``[prefix]date`` stands for its own [L, H) range. A time without a zone, in a
query or (invalid FHIR) in a resource, is taken as UTC; a '+' decoded to a space in front of
the zone (``T10:00:00 02:00``) is read as '+'. For a stored [lo, hi), the prefixes mean
(R4 search, "prefixes": search range contains / overlaps the target range):

    eq  lo >= L and hi <= H                   (the search range contains the target)
    ne  lo < L or hi > H                      (not eq)
    gt  hi > H                                (the target reaches above the search range)
    lt  lo < L                                (the target reaches below the search range)
    ge  hi > H or (lo >= L and hi <= H)       (gt or eq)
    le  lo < L or (lo >= L and hi <= H)       (lt or eq)
    sa  lo >= H                               (the target starts after the search range)
    eb  hi <= L                               (the target ends before the search range)
    ap  lo < H + d and hi > L - d             (overlaps the search range widened by d)

where d is 10% of the time between now and the search range (0 when now is inside it), and
at least one day.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from fhir_server.errors import Invalid
from fhir_server.model.datetimes import datetime_range
from fhir_server.search.filters import WIDE, Narrow
from fhir_server.search.index_types.common import (
    Conditions,
    entry_filter,
    no_modifier,
    split_prefix,
    unescape,
    unique,
)
from fhir_server.search.index_types.common import missing as missing  # part of the interface

MIN = datetime(1, 1, 1, tzinfo=UTC)
NARROW_WIDTH = timedelta(days=1)
MAX = datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
AP_MINIMUM = timedelta(days=1)

_ZONE = re.compile(r"(?P<time>.*T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)(?P<tz>.*)")


def instant_range(text: str, what: str) -> tuple[datetime, datetime]:
    """[low, high) of a date, dateTime or instant, in whole milliseconds (Invalid if bad)."""
    text = text.strip()
    if len(text) > 64:  # the longest instant has 35 characters
        raise Invalid(f"{what}: {text[:40]!r}... is not a FHIR date, dateTime or instant")
    timed = _ZONE.fullmatch(text)
    if timed is not None and timed["tz"] == "":
        text += "Z"
    elif timed is not None and re.fullmatch(r" [0-9]{2}:[0-9]{2}", timed["tz"]):
        text = f"{timed['time']}+{timed['tz'][1:]}"
    try:
        low, high = datetime_range(text, what)
        return _floor_ms(low), _ceil_ms(high)
    except OverflowError:  # defensive: bounds at the edge of the calendar
        raise Invalid(f"{what}: {text[:40]!r} is out of range") from None


def index(values: list[Any]) -> list[Any]:
    return unique({"lo": lo, "hi": hi} for value in values for lo, hi in _ranges(value))


def query(path: str, value: str, modifier: str | None) -> dict[str, Any]:
    no_modifier(modifier, "date")
    prefix, text = split_prefix(unescape(value))
    low, high = instant_range(text, "date search value")
    return entry_filter(path, range_conditions(prefix, low, high, _approximation(low, high)))


def with_marker(entries: list[Any]) -> list[Any]:
    """The entries of a date parameter (not of a composite's component), plus the ``WIDE``
    marker ``{"lo": "wide"}`` when they are several or one is wider than a day: only a single
    narrow entry lets a search bound ``lo`` through an index (see ``narrow``). The marker has
    no ``hi`` and a string ``lo``, which no date condition matches."""
    wide = len(entries) > 1 or any(e["hi"] - e["lo"] > NARROW_WIDTH for e in entries)
    return [*entries, {"lo": WIDE}] if wide else entries


def narrow(code: str, path: str, value: str, modifier: str | None) -> Narrow:
    """The search value's form for a resource whose parameter holds one entry no wider than a
    day: alternatives become negations (``ge`` = not (hi <= H and lo < L)), and every match
    has its ``lo`` within ``low``."""
    no_modifier(modifier, "date")
    prefix, text = split_prefix(unescape(value))
    low, high = instant_range(text, "date search value")
    width = NARROW_WIDTH
    inside = {"lo": {"$gte": low}, "hi": {"$lte": high}}
    forms: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
        "eq": (_some(path, inside), {"$gte": low, "$lt": high}),
        "ne": (_none(path, inside), {}),
        "gt": (_some(path, {"hi": {"$gt": high}}), {"$gt": _add(high, -width)}),
        "lt": (_some(path, {"lo": {"$lt": low}}), {"$lt": low}),
        "ge": (
            _none(path, {"hi": {"$lte": high}, "lo": {"$lt": low}}),
            {"$gte": min(low, _add(high, -width))},
        ),
        "le": (_none(path, {"lo": {"$gte": low}, "hi": {"$gt": high}}), {"$lt": high}),
        "sa": (_some(path, {"lo": {"$gte": high}}), {"$gte": high}),
        "eb": (_some(path, {"hi": {"$lte": low}}), {"$lt": low}),
    }
    if prefix == "ap":
        margin = _approximation(low, high)
        (conditions,) = range_conditions(prefix, low, high, margin)
        bounds = {"$gt": _add(low, -margin - width), "$lt": _add(high, margin)}
        return Narrow(code, _some(path, conditions), bounds)
    exact, bounds = forms[prefix]
    return Narrow(code, exact, bounds)


def _some(path: str, conditions: dict[str, Any]) -> dict[str, Any]:
    return {path: {"$elemMatch": conditions}}


def _none(path: str, conditions: dict[str, Any]) -> dict[str, Any]:
    return {path: {"$not": {"$elemMatch": conditions}}}


def sort_value(entries: list[Any], descending: bool) -> Any:
    """The earliest low ascending, the latest high descending."""
    key = "hi" if descending else "lo"
    bounds = [
        entry[key]
        for entry in entries
        if isinstance(entry, dict) and isinstance(entry.get(key), datetime)
    ]
    if not bounds:
        return None
    return max(bounds) if descending else min(bounds)


def range_conditions(
    prefix: str, low: datetime, high: datetime, margin: timedelta
) -> list[Conditions]:
    """The alternatives for a prefix and a search range [low, high) over ``lo``/``hi``
    entries (see the module docstring). ``margin`` widens the range for ``ap``."""
    inside = {"lo": {"$gte": low}, "hi": {"$lte": high}}
    above = {"hi": {"$gt": high}}
    below = {"lo": {"$lt": low}}
    alternatives: dict[str, list[Conditions]] = {
        "eq": [inside],
        "ne": [below, above],
        "gt": [above],
        "lt": [below],
        "ge": [above, inside],
        "le": [below, inside],
        "sa": [{"lo": {"$gte": high}}],
        "eb": [{"hi": {"$lte": low}}],
    }
    if prefix == "ap":
        return [{"lo": {"$lt": _add(high, margin)}, "hi": {"$gt": _add(low, -margin)}}]
    return alternatives[prefix]


def _approximation(low: datetime, high: datetime) -> timedelta:
    now = datetime.now(UTC)
    gap = low - now if low > now else now - high if high < now else timedelta(0)
    return max(AP_MINIMUM, gap / 10)


def _add(bound: datetime, delta: timedelta) -> datetime:
    try:
        return bound + delta
    except OverflowError:
        return MAX if delta > timedelta(0) else MIN


def _ranges(value: Any) -> Iterator[tuple[datetime, datetime]]:
    if isinstance(value, str):
        found = _parse(value)
        if found is not None:
            yield found
    elif isinstance(value, dict):
        if "start" in value or "end" in value:
            yield from _period(value)
        events = value.get("event")
        for event in events if isinstance(events, list) else ():
            yield from _ranges(event)
        repeat = value.get("repeat")
        if isinstance(repeat, dict) and isinstance(repeat.get("boundsPeriod"), dict):
            yield from _period(repeat["boundsPeriod"])


def _period(period: dict[str, Any]) -> Iterator[tuple[datetime, datetime]]:
    start = _parse(period.get("start"))
    end = _parse(period.get("end"))
    if start is None and end is None:
        return
    yield (start[0] if start else MIN), (end[1] if end else MAX)


def _parse(text: Any) -> tuple[datetime, datetime] | None:
    if not isinstance(text, str):
        return None
    return _parsed(text)


@lru_cache(maxsize=4096)
def _parsed(text: str) -> tuple[datetime, datetime] | None:
    """Remembered: a bundle repeats its dates (an encounter's period is its observations'
    effective time), and a parse costs ≈ 30 µs; the result is immutable."""
    try:
        return instant_range(text, "date")
    except Invalid:
        return None


def _floor_ms(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _ceil_ms(moment: datetime) -> datetime:
    rest = moment.microsecond % 1000
    return _add(moment, timedelta(microseconds=1000 - rest)) if rest else moment
