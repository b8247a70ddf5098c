"""Lab table cells: a result value, a reference range, a unit, a flag.

Numbers are kept as ``Decimal`` with their printed number of decimals: a value printed with
fewer decimals than its reference range (``37`` against ``3.5 - 5.1``) is how a lost decimal
point shows, and the checks look for it. Each parser returns a certainty (1.0: read as printed;
lower: repaired) or None when the text is not that kind of cell.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Generic, TypeVar

from terminology import ucum

T = TypeVar("T")

OCR_REPAIRED = 0.8  # a letter read for a digit, or a space inside a number
COMMA_DECIMAL = 0.95  # "5,2": a decimal comma (European print)
THOUSANDS_OR_DECIMAL = 0.4  # "1,200": 1.2 or 1200?
UNIT_REPAIRED = 0.9  # "10A9/L", "10°9/L": the caret of 10^9 misread

FLAGS = {"H": "H", "HH": "H", "L": "L", "LL": "L", "*": "A", "A": "A", "!": "A", "N": "N"}
_NUMBER = r"[+-]?\d+(?:[.,]\d+)?"
_VALUE = re.compile(
    r"^(?P<cmp><=|>=|<|>|≤|≥)?\s*(?P<num>" + _NUMBER + r")\s*(?P<flag>HH|LL|H|L|\*|!)?$"
)
_RANGE = re.compile(r"^(?P<low>" + _NUMBER + r")\s*(?:-|–|—|~|to)\s*(?P<high>" + _NUMBER + r")$")
_BOUND = re.compile(r"^(?P<cmp><=|>=|<|>|≤|≥)\s*(?P<num>" + _NUMBER + r")$")
_DIGITS = str.maketrans(
    {"O": "0", "o": "0", "l": "1", "I": "1", "|": "1", "S": "5", "B": "8", "A": "4"}
)
_TRAILING_MARK = re.compile(r"(?<=\d)[.,]$")  # "3.7.": a speck after the number
# OCR's misreadings inside a printed range: a colon for a decimal point ("3:5"), an equals
# sign for its dash ("3.5 = 5.1").
_RANGE_REPAIRS = (
    (re.compile(r"(?<=\d):(?=\d)"), "."),
    (re.compile(r"(?<=\d)\s*=\s*(?=\d)"), " - "),
)
_SPLIT_NUMBER = re.compile(r"(?<=\d)\s*([.,])\s+(?=\d)|(?<=\d)\s+([.,])\s*(?=\d)|(?<=\d)(:)(?=\d)")
# A count per volume as labs print it: x10^9/L, 10*12/L. OCR reads the caret as a letter, a
# mark or a digit (10A9/L, 10%9/L, 1049/L), or drops it (109/L). Labs print the exponents 3, 6,
# 9 and 12 only, so whatever stands between the 10 and one of them is the caret.
_POWER = re.compile(
    r"^[x×*]?10(?P<sep>\^|\*|[A°\"'’`“”%>47*^]{0,2})(?P<exp>12|3|6|9)/(?P<per>[A-Za-zµ]{1,3})$"
)
_SPECKS_AFTER_UNIT = ",.;:'"


@dataclass(frozen=True, slots=True)
class Number:
    value: Decimal
    decimals: int  # digits printed after the decimal point


@dataclass(frozen=True, slots=True)
class Measured:
    """A result value: ``< 5`` is ``comparator="<"``, number 5."""

    number: Number
    comparator: str | None
    flag: str | None  # a flag printed in the value's cell ("5.2 H")

    @property
    def value(self) -> Decimal:
        return self.number.value


@dataclass(frozen=True, slots=True)
class ReferenceRange:
    """``3.5 - 5.0``; ``< 200`` has no low; ``> 60`` has no high."""

    low: Number | None
    high: Number | None

    @property
    def decimals(self) -> int:
        return max((n.decimals for n in (self.low, self.high) if n is not None), default=0)


@dataclass(frozen=True, slots=True)
class Parsed(Generic[T]):
    value: T
    certainty: float
    notes: tuple[str, ...] = ()


def parse_number(text: str) -> Parsed[Number] | None:
    """``3.7``, ``5,2``, ``140``; ``3. 7``, ``3.O``, ``Al`` (41) and ``3.7.`` repaired at a
    lower certainty: a repaired number is committed only once a clean second reading agrees
    (``second_reading.py``)."""
    certainty, notes = 1.0, []
    cleaned = text.strip()
    if _TRAILING_MARK.search(cleaned):
        cleaned, certainty = cleaned[:-1], OCR_REPAIRED
        notes.append("a mark after the number ignored")
    joined = _SPLIT_NUMBER.sub(lambda m: "." if m[3] else m[1] or m[2], cleaned)
    if joined != cleaned:
        cleaned, certainty = joined, OCR_REPAIRED
        notes.append("decimal point repaired")
    if not re.fullmatch(r"[+-]?[\d.,]+", cleaned):
        repaired = cleaned.translate(_DIGITS)
        numeric = sum(c.isdigit() or c in ".," for c in cleaned)
        if repaired == cleaned or not re.fullmatch(r"[+-]?[\d.,]+", repaired):
            return None
        if numeric == 0 and len(cleaned) < 2:
            return None  # a lone letter is no number ("A" is also a flag)
        cleaned, certainty = repaired, certainty * OCR_REPAIRED
        notes.append("letters read as digits")
    if not re.fullmatch(_NUMBER, cleaned):
        return None
    if "," in cleaned:
        whole, fraction = cleaned.split(",")
        if len(fraction) == 3:  # 1,200: thousands separator or decimal comma
            certainty *= THOUSANDS_OR_DECIMAL
            notes.append("comma may separate thousands")
        else:
            certainty *= COMMA_DECIMAL
        cleaned = f"{whole}.{fraction}"
    decimals = len(cleaned.split(".")[1]) if "." in cleaned else 0
    return Parsed(Number(Decimal(cleaned), decimals), certainty, tuple(notes))


def parse_value(text: str) -> Parsed[Measured] | None:
    """A result cell: ``3.7``, ``<5``, ``> 1000``, ``5.2 H``."""
    match = _VALUE.match(text.strip())
    if match is None:
        # A number OCR damaged ("3.O", "3. 7") with an optional comparator or flag around it.
        loose = re.match(
            r"^(?P<cmp><=|>=|<|>|≤|≥)?\s*(?P<num>.+?)\s*(?P<flag>\b(?:HH|LL|H|L)|\*|!)?$",
            text.strip(),
        )
        if loose is None:
            return None
        number = parse_number(loose["num"])
        comparator, flag = loose["cmp"], loose["flag"]
    else:
        number = parse_number(match["num"])
        comparator, flag = match["cmp"], match["flag"]
    if number is None:
        return None
    comparator = {"≤": "<=", "≥": ">="}.get(comparator or "", comparator)
    measured = Measured(number.value, comparator or None, FLAGS.get(flag) if flag else None)
    return Parsed(measured, number.certainty, number.notes)


def parse_range(text: str) -> Parsed[ReferenceRange] | None:
    """``3.5 - 5.0``, ``3.5-5.0``, ``3.5 to 5.0``, ``< 200``, ``> 60``; ``3:5 = 5.1`` repaired
    at a lower certainty."""
    cleaned = " ".join(text.split())
    repaired = cleaned
    for pattern, replacement in _RANGE_REPAIRS:
        repaired = pattern.sub(replacement, repaired)
    repairs: tuple[str, ...] = ()
    if repaired != cleaned:
        cleaned, repairs = repaired, ("range repaired",)
    if match := _RANGE.match(cleaned):
        low, high = parse_number(match["low"]), parse_number(match["high"])
        if low is None or high is None:
            return None
        certainty = min(low.certainty, high.certainty) * (OCR_REPAIRED if repairs else 1.0)
        notes = low.notes + high.notes + repairs
        return Parsed(ReferenceRange(low.value, high.value), certainty, notes)
    if match := _BOUND.match(cleaned):
        bound = parse_number(match["num"])
        if bound is None:
            return None
        below = match["cmp"] in ("<", "<=", "≤")
        reference = (
            ReferenceRange(None, bound.value) if below else ReferenceRange(bound.value, None)
        )
        return Parsed(reference, bound.certainty, bound.notes)
    return None


def parse_unit(text: str) -> Parsed[str] | None:
    """The UCUM code of a printed unit: ``mmol/l`` → ``mmol/L``, ``x10^9/L`` → ``10*9/L``."""
    cleaned = "".join(text.split()).rstrip(_SPECKS_AFTER_UNIT)  # "mmol/L,": a speck after it
    if not cleaned:
        return None
    certainty = 1.0
    notes: tuple[str, ...] = ()
    power = _POWER.match(cleaned)
    if power:
        if power["sep"] not in ("^", "*"):
            certainty, notes = UNIT_REPAIRED, ("power of ten repaired",)
        cleaned = f"10^{power['exp']}/{power['per']}"
    code = ucum.from_printed(cleaned)
    return None if code is None else Parsed(code, certainty, notes)


def parse_flag(text: str) -> str | None:
    """A printed flag as H, L or A (abnormal), or None when the text is not a flag."""
    return FLAGS.get(text.strip().upper().rstrip("."))
