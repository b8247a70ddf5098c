"""token search parameters.

Stored, three kinds of entry:

- a code: ``{"s": system, "c": code}`` ("" for no system) from Coding (system, code),
  CodeableConcept (each coding), Identifier (system, value), ContactPoint (system, value) and
  primitives (code, string, id, uri; booleans as "true"/"false"; integers);
- a text: ``{"t": normalized}`` from CodeableConcept.text, Coding.display, Identifier.type.text;
- an identifier type: ``{"ts": type system, "tc": type code, "v": value}`` for each coding of
  an Identifier's type (for ``:of-type``).

Codes are case-sensitive, systems exact. Queries: ``code`` (any system), ``system|code``,
``|code`` (no system), ``system|`` (any code of the system); ``:not`` (no entry matches, also
true when nothing is indexed); ``:text`` (a text starts with the normalized value);
``:of-type`` (``typesystem|typecode|value``). ``:in``, ``:not-in``, ``:above`` and ``:below``
need the terminology service and raise NotSupported.

A primitive ``code`` is stored without a system: its implied system (the bound value set's) is
not known here, so ``system|code`` does not find it; the extractor may pass it as a Coding.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from fhir_server.errors import Invalid, NotSupported
from fhir_server.search.index_types.common import (
    Conditions,
    entry_filter,
    normalize,
    split_escaped,
    starts_with,
    unescape,
    unique,
)
from fhir_server.search.index_types.common import missing as missing  # part of the interface

_TERMINOLOGY = frozenset({"in", "not-in", "above", "below"})


def index(values: list[Any]) -> list[Any]:
    return unique(entry for value in values for entry in _entries(value))


def query(path: str, value: str, modifier: str | None) -> dict[str, Any]:
    if modifier is None:
        return entry_filter(path, [code_conditions(value, "s", "c")])
    if modifier == "not":
        return {path: {"$not": {"$elemMatch": code_conditions(value, "s", "c")}}}
    if modifier == "text":
        return entry_filter(path, [{"t": starts_with(normalize(unescape(value)))}])
    if modifier == "of-type":
        return entry_filter(path, [_of_type(value)])
    if modifier in _TERMINOLOGY:  # search/codes.py answers them, with the terminology service
        raise NotSupported(f"Token modifier :{modifier} needs a terminology service")
    raise Invalid(f"Modifier :{modifier[:40]} is not allowed on a token search parameter")


def sort_value(entries: list[Any], descending: bool) -> Any:
    """The lowest code ascending, the highest descending."""
    codes = [entry["c"] for entry in entries if isinstance(entry, dict) and "c" in entry]
    if not codes:
        return None
    return max(codes) if descending else min(codes)


def code_conditions(value: str, system_field: str, code_field: str) -> Conditions:
    """``code``, ``system|code``, ``|code`` or ``system|`` -> conditions on one entry."""
    parts = split_escaped(value, "|")
    if len(parts) == 1:
        return {code_field: parts[0]}
    if len(parts) > 2:
        raise Invalid(f"Token {value[:60]!r} has more than one unescaped '|'")
    system, code = parts
    if not code:
        if not system:
            raise Invalid("Token '|' names neither a system nor a code")
        return {system_field: system}
    return {system_field: system, code_field: code}


def codes_filter(
    path: str, pairs: Iterable[tuple[str, str]], *, negate: bool = False
) -> dict[str, Any]:
    """Some entry has one of the (system, code) pairs (with ``negate``: none has)."""
    by_system: dict[str, list[str]] = {}
    for system, code in sorted(pairs):
        by_system.setdefault(system, []).append(code)
    alternatives: list[Conditions] = [
        {"s": system, "c": _one_of(codes)} for system, codes in by_system.items()
    ]
    if not alternatives:  # an empty value set: nothing is in it
        return {} if negate else {"_id": {"$in": []}}
    # A primitive code (Observation.status, Patient.gender) is stored with the system "": it
    # matches on the code alone.
    alternatives.append({"s": "", "c": _one_of(sorted({c for _, c in pairs}))})
    if negate and len(alternatives) == 1:  # without a top-level operator, an index stays usable
        return {path: {"$not": {"$elemMatch": alternatives[0]}}}
    found = entry_filter(path, alternatives)
    return {"$nor": [found]} if negate else found


def _one_of(codes: list[str]) -> Any:
    return codes[0] if len(codes) == 1 else {"$in": codes}


def _of_type(value: str) -> Conditions:
    parts = split_escaped(value, "|")
    if len(parts) != 3 or not all(parts):
        raise Invalid(f":of-type takes typesystem|typecode|value, not {value[:60]!r}")
    type_system, type_code, identifier = parts
    return {"ts": type_system, "tc": type_code, "v": identifier}


def _entries(value: Any) -> Iterator[dict[str, str]]:
    if isinstance(value, bool):
        yield {"s": "", "c": "true" if value else "false"}
    elif isinstance(value, str | int):
        if str(value):
            yield {"s": "", "c": str(value)}
    elif isinstance(value, dict):
        if "value" in value:  # Identifier, ContactPoint
            yield from _code(value.get("system"), value.get("value"))
            yield from _identifier_type(value.get("type"), value.get("value"))
        elif "coding" in value or "text" in value:  # CodeableConcept
            for coding in _list(value.get("coding")):
                yield from _entries(coding)
            yield from _text(value.get("text"))
        else:  # Coding
            yield from _code(value.get("system"), value.get("code"))
            yield from _text(value.get("display"))


def _code(system: Any, code: Any) -> Iterator[dict[str, str]]:
    if isinstance(code, str | int) and not isinstance(code, bool) and str(code):
        yield {"s": system if isinstance(system, str) else "", "c": str(code)}


def _text(text: Any) -> Iterator[dict[str, str]]:
    if isinstance(text, str):
        normalized = normalize(text)
        if normalized:
            yield {"t": normalized}


def _identifier_type(type_: Any, value: Any) -> Iterator[dict[str, str]]:
    if not isinstance(type_, dict):
        return
    yield from _text(type_.get("text"))
    if not isinstance(value, str) or not value:
        return
    for coding in _list(type_.get("coding")):
        system, code = coding.get("system"), coding.get("code")
        if isinstance(code, str) and code:
            yield {"ts": system if isinstance(system, str) else "", "tc": code, "v": value}


def _list(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
