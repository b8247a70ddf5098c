"""What the index type modules share: FHIR search escaping, text normalization, prefixes,
``:missing``, and turning per-entry conditions into a filter the embedded database runs.

Filters are built only from fixed field names and operators; user input goes into value
positions alone, so it can never become an operator or a field name.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Hashable, Iterable
from typing import Any

import orjson

from fhir_server.errors import Invalid

# The highest code point: ``p <= s < p + TOP`` is "s starts with p" in the UTF-8 byte order
# MongoDB compares strings in (U+FFFF would miss characters outside the BMP).
TOP = "\U0010ffff"

PREFIXES = frozenset({"eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"})

# One alternative: conditions on the fields of ONE stored entry (the body of an $elemMatch).
Conditions = dict[str, Any]

_ESCAPABLE = frozenset("\\,$|")


def split_escaped(value: str, separator: str | None) -> list[str]:
    """Split on unescaped ``separator`` and unescape each part (``\\,`` ``\\$`` ``\\|`` ``\\\\``).

    A backslash before any other character, or at the end, is kept as a literal backslash.
    """
    parts: list[str] = []
    current: list[str] = []
    chars = iter(value)
    for char in chars:
        if char == "\\":
            following = next(chars, None)
            if following is None:
                current.append("\\")
            elif following in _ESCAPABLE:
                current.append(following)
            else:
                current.extend(("\\", following))
        elif char == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def split_raw(value: str, separator: str) -> list[str]:
    """Split on unescaped ``separator`` but keep the escapes in each part (for composites,
    whose parts are then handed, still escaped, to their component types)."""
    parts: list[str] = []
    start = 0
    position = 0
    while position < len(value):
        char = value[position]
        if char == "\\":
            position += 2
            continue
        if char == separator:
            parts.append(value[start:position])
            start = position + 1
        position += 1
    parts.append(value[start:])
    return parts


def unescape(value: str) -> str:
    return split_escaped(value, None)[0]


def normalize(text: str) -> str:
    """Case- and accent-insensitive form: NFKD without combining marks, casefolded, with
    whitespace runs collapsed to one space."""
    if text.isascii():  # the common case: nothing to decompose
        return " ".join(text.lower().split())
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.casefold().split())


def starts_with(prefix: str) -> dict[str, str]:
    """Range condition: a string that starts with ``prefix`` (index-friendly, no regex)."""
    return {"$gte": prefix, "$lt": prefix + TOP}


def contains(text: str) -> dict[str, str]:
    return {"$regex": re.escape(text)}


def split_prefix(value: str) -> tuple[str, str]:
    """``ge2020`` -> ("ge", "2020"); no prefix -> ("eq", value). Two leading letters that are
    not a prefix are an error (a value of these types never starts with letters)."""
    head = value[:2]
    if head in PREFIXES:
        return head, value[2:]
    if len(head) == 2 and head.isascii() and head.isalpha():
        raise Invalid(f"Unknown search prefix {head!r} in {value[:40]!r}")
    return "eq", value


def no_modifier(modifier: str | None, what: str) -> None:
    if modifier is not None:
        raise Invalid(f"Modifier :{modifier[:40]} is not allowed on a {what} search parameter")


def missing(path: str, is_missing: bool) -> dict[str, Any]:
    """``:missing``: absent, null or an empty list counts as missing."""
    return {path: {"$in" if is_missing else "$nin": [None, []]}}


def entry_filter(path: str, alternatives: list[Conditions]) -> dict[str, Any]:
    """Some stored entry satisfies one of the alternatives.

    The OR stays outside the ``$elemMatch`` because the embedded database accepts no logical
    operator ($or, $and, $nor) inside one."""
    if not alternatives:
        raise ValueError("entry_filter needs at least one alternative")
    filters = [{path: {"$elemMatch": conditions}} for conditions in alternatives]
    return filters[0] if len(filters) == 1 else {"$or": filters}


def unique(entries: Iterable[Any]) -> list[Any]:
    """Entries without repeats, in first-seen order."""
    items = list(entries)
    if len(items) < 2:  # the common case: nothing to compare
        return items
    seen: set[Hashable] = set()
    out: list[Any] = []
    for entry in items:
        key = unique_key(entry)
        if key not in seen:
            seen.add(key)
            out.append(entry)
    return out


def unique_key(value: Any) -> Hashable:
    """What ``unique`` tells entries apart by."""
    # Canonical JSON in C: key order ignored; 1, 1.0, true and "1" stay distinct.
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
