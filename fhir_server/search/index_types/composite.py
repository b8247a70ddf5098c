"""composite search parameters.

Stored: one entry per matched element, ``{component_code: [entries]}`` where each component's
entries are its own type's ``index()`` of the raw values; an element with a component that
indexes to nothing is dropped (no composite value can match it).

Queries: ``v1$v2[$v3...]`` (split on unescaped '$', one part per component, in order; each part
keeps its other escapes) -> some ONE stored entry whose components match their parts, each
part queried by its component type's ``query()`` (prefixes included, no modifiers). A
component whose filter is an OR of alternatives is distributed over the other components, so
the OR stays outside the ``$elemMatch`` (the embedded database takes none inside one).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import product
from types import ModuleType
from typing import Any

from fhir_server.errors import Invalid, NotSupported
from fhir_server.search.index_types import (
    date,
    number,
    quantity,
    reference,
    string,
    token,
    uri,
)
from fhir_server.search.index_types.common import Conditions, entry_filter, split_raw, unique
from fhir_server.search.index_types.common import missing as missing  # part of the interface

Components = list[tuple[str, str]]
# (component type, raw values) -> that type's index entries of the values.
IndexValues = Callable[[str, list[Any]], list[Any]]

_TYPES: dict[str, ModuleType] = {
    "date": date,
    "number": number,
    "quantity": quantity,
    "reference": reference,
    "string": string,
    "token": token,
    "uri": uri,
}


def index_composite(
    values: list[dict[str, list[Any]]],
    components: Components,
    index: IndexValues | None = None,
) -> list[dict[str, Any]]:
    """``index(kind, values)`` indexes each component's values, by default with their type's
    ``index()``; the caller may pass one that reuses entries it already has (it must give the
    same entries)."""
    _check_codes(components)
    index_values = index or _index_values
    entries = []
    for value in values:
        entry = {code: index_values(kind, value.get(code) or []) for code, kind in components}
        if all(entry.values()):
            entries.append(entry)
    return unique(entries)


def query_composite(path: str, value: str, components: Components) -> dict[str, Any]:
    _check_codes(components)
    parts = split_raw(value, "$")
    if len(parts) != len(components):
        raise Invalid(
            f"Composite value {value[:60]!r} needs {len(components)} parts separated by '$'"
        )
    per_component = [
        _alternatives(_type(kind).query(code, part, None))
        for (code, kind), part in zip(components, parts, strict=True)
    ]
    merged = [_merge(choice) for choice in product(*per_component)]
    return entry_filter(path, merged)


def sort_value(entries: list[Any], descending: bool) -> Any:
    """Composites are not sortable."""
    return None


def _index_values(kind: str, values: list[Any]) -> list[Any]:
    entries: list[Any] = _type(kind).index(values)
    return entries


def _type(kind: str) -> ModuleType:
    module = _TYPES.get(kind)
    if module is None:
        raise NotSupported(f"Composite component of type {kind} is not supported")
    return module


def _check_codes(components: Components) -> None:
    """Component codes become field names: they come from the SearchParameter definitions,
    never from a request, and must be plain names."""
    for code, _ in components:
        if not code or code.startswith("$") or "." in code or "\x00" in code:
            raise ValueError(f"component code {code!r} cannot be a field name")


def _alternatives(filter_: dict[str, Any]) -> list[Conditions]:
    """A component filter as alternatives of field conditions (an $or is split open)."""
    if set(filter_) == {"$or"}:
        return [part for alternative in filter_["$or"] for part in _alternatives(alternative)]
    if any(key.startswith("$") for key in filter_):
        raise ValueError(f"unexpected operator in component filter: {sorted(filter_)}")
    return [filter_]


def _merge(conditions: tuple[Conditions, ...]) -> Conditions:
    merged: Conditions = {}
    for part in conditions:
        merged.update(part)
    return merged
