"""Printed dates: 1985-07-03, 03/07/1985, 3 Jul 1985, Jul 3, 1985, 03.07.1985.

Day or month first? A numeric date whose first two numbers are both 12 or less and differ
(03/07/1985) cannot be told from the text alone: it is returned with the reading in the
preferred order (``day_first``, ABC Medical Center prints day first) as its value, the other as
an alternative, and a certainty of ``AMBIGUOUS``, which is below every acceptance threshold:
a human (or the Patient's recorded birth date, in patient matching) decides. A number above 12
settles it either way; ISO and month-name dates are never ambiguous.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

AMBIGUOUS = 0.4  # day/month order unknown
TWO_DIGIT_YEAR = 0.4  # century unknown
OCR_REPAIRED = 0.85  # letters read for digits (O for 0, l for 1)
EARLIEST_YEAR = 1880

MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
    "mrt": 3, "mei": 5, "okt": 10,  # Dutch abbreviations that differ from English
}  # fmt: skip
_MONTH = r"(?P<month>[A-Za-z]{3,9})\.?"
_ISO = re.compile(r"(?<!\d)(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})(?!\d)")
_NUMERIC = re.compile(
    r"(?<!\d)(?P<a>\d{1,2})\s?[-/.]\s?(?P<b>\d{1,2})\s?[-/.]\s?(?P<y>\d{2,4})(?!\d)"
)
_DAY_MONTH = re.compile(
    r"(?<!\d)(?P<d>\d{1,2})(?:st|nd|rd|th)?[\s-]+" + _MONTH + r"[\s,-]+(?P<y>\d{4})(?!\d)"
)
_MONTH_DAY = re.compile(_MONTH + r"\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<y>\d{4})(?!\d)")
# Letters OCR reads for digits, repaired only inside tokens that are mostly digits.
_DIGITS = str.maketrans({"O": "0", "o": "0", "l": "1", "I": "1", "|": "1", "S": "5", "B": "8"})
_TOKEN = re.compile(r"[0-9OoIlSB|]+")


@dataclass(frozen=True, slots=True)
class DateReading:
    value: dt.date
    certainty: float
    alternatives: tuple[dt.date, ...] = ()
    notes: tuple[str, ...] = ()


def parse_date(text: str, *, day_first: bool = True) -> DateReading | None:
    """The first date printed in ``text``, or None."""
    repaired = _repair_digits(text)
    reading = _parse(repaired, day_first)
    if reading is None or repaired == text:
        return reading
    return DateReading(
        reading.value,
        reading.certainty * OCR_REPAIRED,
        reading.alternatives,
        (*reading.notes, "letters read as digits"),
    )


def _parse(text: str, day_first: bool) -> DateReading | None:
    if match := _ISO.search(text):
        return _single(int(match["y"]), int(match["m"]), int(match["d"]))
    if match := _DAY_MONTH.search(text):
        return _named(match["y"], match["month"], match["d"])
    if match := _MONTH_DAY.search(text):
        return _named(match["y"], match["month"], match["d"])
    if match := _NUMERIC.search(text):
        return _numeric(int(match["a"]), int(match["b"]), match["y"], day_first)
    return None


def _single(year: int, month: int, day: int, certainty: float = 1.0) -> DateReading | None:
    date = _date(year, month, day)
    return None if date is None else DateReading(date, certainty)


def _named(year: str, month_name: str, day: str) -> DateReading | None:
    month = MONTHS.get(month_name[:3].lower())
    if month is None:
        return None
    return _single(int(year), month, int(day))


def _numeric(a: int, b: int, year_text: str, day_first: bool) -> DateReading | None:
    notes: list[str] = []
    certainty = 1.0
    year = int(year_text)
    if len(year_text) == 2:
        year += 1900 if year > dt.date.today().year % 100 else 2000
        certainty, notes = TWO_DIGIT_YEAR, ["two-digit year"]
    elif len(year_text) != 4:
        return None
    day_month = _date(year, b, a)  # a is the day
    month_day = _date(year, a, b)
    if day_month and month_day and day_month != month_day:
        first, other = (day_month, month_day) if day_first else (month_day, day_month)
        return DateReading(
            first, min(certainty, AMBIGUOUS), (other,), (*notes, "day and month order ambiguous")
        )
    date = day_month or month_day
    return None if date is None else DateReading(date, certainty, (), tuple(notes))


def _date(year: int, month: int, day: int) -> dt.date | None:
    if year < EARLIEST_YEAR:
        return None
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _repair_digits(text: str) -> str:
    def repair(match: re.Match[str]) -> str:
        token = match[0]
        digits = sum(c.isdigit() for c in token)
        return token.translate(_DIGITS) if digits and digits * 2 >= len(token) else token

    return _TOKEN.sub(repair, text)
