"""uri search parameters.

Stored: the uri strings themselves, exactly as written (``["http://acme.org/fhir/vs/1"]``).

Queries: no modifier -> some uri equals the value exactly; ``:below`` -> some uri is the value
or lies under it by path segments (``http://acme.org/fhir`` is below ``http://acme.org`` but
``http://acme.orgx`` is not); ``:above`` -> some uri is the value or one of its ancestors by
path segments, with or without a trailing '/' (down to scheme and authority, never the bare
scheme). Segments are split on '/' only: urn:oid: and urn:uuid: values have no ancestors.
"""

from __future__ import annotations

import re
from typing import Any

from fhir_server.errors import Invalid
from fhir_server.search.index_types.common import TOP, entry_filter, unescape, unique
from fhir_server.search.index_types.common import missing as missing  # part of the interface

_AUTHORITY = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^/]*")


def index(values: list[Any]) -> list[Any]:
    return unique(value for value in values if isinstance(value, str) and value)


def query(path: str, value: str, modifier: str | None) -> dict[str, Any]:
    text = unescape(value)
    if modifier is None:
        return {path: text}
    if modifier == "below":
        base = text.rstrip("/") or text
        return {
            "$or": [
                {path: {"$in": [base, base + "/"]}},
                entry_filter(path, [{"$gte": base + "/", "$lt": base + "/" + TOP}]),
            ]
        }
    if modifier == "above":
        return {path: {"$in": _ancestors(text)}}
    raise Invalid(f"Modifier :{modifier[:40]} is not allowed on a uri search parameter")


def sort_value(entries: list[Any], descending: bool) -> Any:
    """The lowest uri ascending, the highest descending."""
    uris = [entry for entry in entries if isinstance(entry, str)]
    if not uris:
        return None
    return max(uris) if descending else min(uris)


def _ancestors(uri: str) -> list[str]:
    """``uri`` and every shorter path-segment prefix, each with and without a trailing '/'."""
    authority = _AUTHORITY.match(uri)
    floor = authority.end() if authority else len(uri)
    out: list[str] = []
    current = uri.rstrip("/") or uri
    while True:
        out.extend((current, current + "/"))
        cut = current.rfind("/")
        if cut < floor:
            return out
        current = current[:cut]
