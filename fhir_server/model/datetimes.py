"""FHIR date, dateTime and instant values as the [low, high) range of instants they cover."""

from __future__ import annotations

import re
from datetime import MAXYEAR, UTC, datetime, timedelta

from fhir_server.errors import Invalid

_DATETIME = re.compile(
    r"(?P<y>[0-9]{4})(?:-(?P<m>[0-9]{2})(?:-(?P<d>[0-9]{2})"
    r"(?:T(?P<H>[0-9]{2}):(?P<M>[0-9]{2})(?::(?P<S>[0-9]{2})(?P<f>\.[0-9]{1,9})?)?"
    r"(?P<tz>Z|[+-][0-9]{2}:[0-9]{2}))?)?)?"
)


def datetime_range(text: str, what: str) -> tuple[datetime, datetime]:
    match = _DATETIME.fullmatch(text.strip())
    if match is None:
        raise Invalid(f"{what}: {text[:40]!r} is not a FHIR date, dateTime or instant")
    try:
        return _range(match.groupdict())
    except (ValueError, OverflowError):
        raise Invalid(f"{what}: {text[:40]!r} is not a valid date") from None


def _range(g: dict[str, str | None]) -> tuple[datetime, datetime]:
    year, month, day = int(g["y"] or 1), int(g["m"] or 1), int(g["d"] or 1)
    if g["H"] is None:
        low = datetime(year, month, day, tzinfo=UTC)
        if g["d"]:
            return low, _add(low, timedelta(days=1))
        if g["m"]:
            return low, _end(year + month // 12, month % 12 + 1)
        return low, _end(year + 1, 1)
    stamp = f"{g['y']}-{g['m']}-{g['d']}T{g['H']}:{g['M']}:{g['S'] or '00'}"
    fraction = (g["f"] or "")[:7]
    tz = "+00:00" if g["tz"] == "Z" else str(g["tz"])
    low = datetime.fromisoformat(stamp + fraction + tz).astimezone(UTC)
    precision = (
        timedelta(microseconds=10 ** (6 - min(len(g["f"]) - 1, 6)))
        if g["f"]
        else timedelta(seconds=1 if g["S"] else 60)
    )
    return low, _add(low, precision)


def _end(year: int, month: int) -> datetime:
    """The first instant of ``year-month``, or the last representable one past year 9999."""
    if year > MAXYEAR:
        return datetime.max.replace(tzinfo=UTC)
    return datetime(year, month, 1, tzinfo=UTC)


def _add(value: datetime, delta: timedelta) -> datetime:
    try:
        return value + delta
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)
