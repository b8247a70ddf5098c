"""reference search parameters.

Stored, two kinds of entry:

- a target: ``{"r": reference}``, and for a relative ``Type/id`` also ``"i": id``.
  ``Type/id/_history/n`` is stored as ``Type/id`` (search ignores versions); an absolute URL
  is stored as written (without ``/_history/n``); a canonical ``url|version`` as
  ``{"r": url, "v": version}``; other uris (urn:uuid:, urn:oid:, ...) as ``{"r": uri}``.
  Contained references (``#x``) are not indexed.
- a logical identifier (``Reference.identifier``): ``{"is": system or "", "iv": value}``.

Queries: ``Type/id`` -> that target; ``id`` -> a relative target of any type with that id;
``:Type`` with ``id`` -> ``Type/id``; an absolute URL -> the same URL, or its ``Type/id`` tail
as a relative target (the URL may name this server, whose base we do not know here: we
accept the tail rather than miss our own resources); ``url|version`` -> a canonical of that
version; ``:identifier`` -> token syntax (``system|value``, ``value``, ``|value``, ``system|``).

An absolute reference stored for a resource of this server is only found by its absolute URL:
the extractor should make references under this server's base relative before indexing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from fhir_server.errors import Invalid, NotSupported
from fhir_server.search.index_types.common import (
    Conditions,
    entry_filter,
    split_escaped,
    unescape,
    unique,
)
from fhir_server.search.index_types.common import missing as missing  # part of the interface
from fhir_server.search.index_types.token import code_conditions

_TYPE = r"[A-Z][A-Za-z]{1,63}"
_ID = r"[A-Za-z0-9\-.]{1,64}"
_RELATIVE = re.compile(rf"(?P<type>{_TYPE})/(?P<id>{_ID})(?:/_history/{_ID})?")
_TAIL = re.compile(rf"/(?P<type>{_TYPE})/(?P<id>{_ID})(?:/_history/{_ID})?$")
_HISTORY = re.compile(rf"/_history/{_ID}$")
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:.+")


def index(values: list[Any]) -> list[Any]:
    return unique(entry for value in values for entry in _entries(value))


def query(path: str, value: str, modifier: str | None) -> dict[str, Any]:
    if modifier == "identifier":
        return entry_filter(path, [code_conditions(value, "is", "iv")])
    if modifier in ("above", "below"):
        raise NotSupported(f"Reference modifier :{modifier} is not supported yet")
    if modifier is not None and not re.fullmatch(_TYPE, modifier):
        raise Invalid(f"Modifier :{modifier[:40]} is not allowed on a reference search parameter")
    return entry_filter(path, [_target(value, modifier)])


def sort_value(entries: list[Any], descending: bool) -> Any:
    """The lowest reference ascending, the highest descending."""
    targets = [entry["r"] for entry in entries if isinstance(entry, dict) and "r" in entry]
    if not targets:
        return None
    return max(targets) if descending else min(targets)


def _target(raw: str, type_modifier: str | None) -> Conditions:
    text = unescape(raw)
    relative = _RELATIVE.fullmatch(text)
    if relative is not None:
        _check_type(relative["type"], type_modifier, text)
        return {"r": f"{relative['type']}/{relative['id']}"}
    if _ABSOLUTE.fullmatch(text):
        if type_modifier is not None:
            tail = _TAIL.search(text)
            _check_type(tail["type"] if tail else None, type_modifier, text)
        return _absolute(raw)
    if type_modifier is not None:
        if not re.fullmatch(_ID, text):
            raise Invalid(f"{text[:60]!r} is not a resource id (with :{type_modifier})")
        return {"r": f"{type_modifier}/{text}"}
    return {"i": text} if "/" not in text else {"r": text}


def _check_type(found: str | None, type_modifier: str | None, text: str) -> None:
    if type_modifier is not None and found != type_modifier:
        raise Invalid(f"{text[:60]!r} is not a {type_modifier} reference")


def _absolute(raw: str) -> Conditions:
    parts = split_escaped(raw, "|")
    if len(parts) == 2 and parts[1]:
        return {"r": parts[0], "v": parts[1]}
    url = unescape(raw)
    tail = _TAIL.search(url)
    if tail is None:
        return {"r": url}
    return {"r": {"$in": [_HISTORY.sub("", url), f"{tail['type']}/{tail['id']}"]}}


def _entries(value: Any) -> Iterator[dict[str, str]]:
    if isinstance(value, str):
        yield from _reference(value, canonical=True)
    elif isinstance(value, dict):
        reference = value.get("reference")
        if isinstance(reference, str):
            yield from _reference(reference, canonical=False)
        identifier = value.get("identifier")
        if isinstance(identifier, dict) and isinstance(identifier.get("value"), str):
            system = identifier.get("system")
            yield {"is": system if isinstance(system, str) else "", "iv": identifier["value"]}


def _reference(text: str, *, canonical: bool) -> Iterator[dict[str, str]]:
    if not text or text.startswith("#"):
        return
    relative = _RELATIVE.fullmatch(text)
    if relative is not None:
        yield {"r": f"{relative['type']}/{relative['id']}", "i": relative["id"]}
    elif canonical and "|" in text:
        url, _, version = text.partition("|")
        yield {"r": url, "v": version} if version else {"r": url}
    else:
        yield {"r": _HISTORY.sub("", text)}
