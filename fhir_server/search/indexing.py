"""From extracted raw values to stored index entries, and from one search value to a filter:
the dispatch to the module of each search parameter type (``index_types/``)."""

from __future__ import annotations

from collections.abc import Hashable
from functools import lru_cache
from types import ModuleType
from typing import Any

from fhir_server.errors import NotSupported
from fhir_server.search.definitions import SearchParam, search_params
from fhir_server.search.extract import extractor
from fhir_server.search.index_types import (
    composite,
    date,
    number,
    quantity,
    reference,
    string,
    token,
    uri,
)
from fhir_server.search.index_types.common import unique_key

_MODULES: dict[str, ModuleType] = {
    "string": string,
    "token": token,
    "reference": reference,
    "date": date,
    "number": number,
    "quantity": quantity,
    "uri": uri,
}


def index_resource(rtype: str, resource: dict[str, Any]) -> dict[str, Any]:
    """``idx`` of a resource, but for ``_lastUpdated`` (see ``last_updated_entries``)."""
    return index_entries(search_params(rtype), extractor(rtype).extract(resource))


def last_updated_entries(last_updated: str) -> list[Any]:
    """meta.lastUpdated is only known once a version is stamped, after extraction. The
    resources of one write share their instant: it is parsed once (13 % of a transaction
    bundle's CPU when parsed for each resource)."""
    return [dict(entry) for entry in _instant_entries(last_updated)]


@lru_cache(maxsize=64)
def _instant_entries(last_updated: str) -> tuple[dict[str, Any], ...]:
    return tuple(date.index([last_updated]))


def index_entries(
    params: dict[str, SearchParam], extracted: dict[str, list[Any]]
) -> dict[str, Any]:
    """``idx`` of a stored resource: parameter code -> its stored entries (non-empty only).

    The same raw value is often indexed by several parameters (Observation.code by ``code``,
    ``combo-code`` and the ``code`` component of six composites; a valueQuantity, with its UCUM
    conversion, by four): each raw value is indexed once per resource (``_ValueIndex``), and
    the entries are shared. The result equals the straightforward path's
    (tests/search/test_index_equivalence.py)."""
    values_index = _ValueIndex()
    out: dict[str, Any] = {}
    for code, values in extracted.items():
        param = params.get(code)
        if param is None:
            continue
        if param.type == "composite":
            entries = composite.index_composite(values, _component_types(param), values_index.index)
        else:
            if param.type not in _MODULES:
                continue
            entries = values_index.index(param.type, values)
            if param.type == "date":
                entries = date.with_marker(entries)
        if entries:
            out[code] = entries
    return out


class _ValueIndex:
    """``module.index(values)`` for one resource, each raw value indexed only once.

    Every type's ``index(values)`` is ``unique`` over the entries of each value in turn, so it
    equals ``unique`` over the concatenated ``index([value])`` of the values. Raw values are
    the resource's own objects (or fhirpathpy's, held by the extraction result), so a value is
    known by its ``id``; the record keeps the value alive, so an id is never reused meanwhile.
    """

    __slots__ = ("_done",)

    def __init__(self) -> None:
        # (type, id(value)) -> (value, its entries, their unique keys once needed)
        self._done: dict[tuple[str, int], _Indexed] = {}

    def index(self, kind: str, values: list[Any]) -> list[Any]:
        if len(values) == 1:
            return list(self._of(kind, values[0]).entries)
        seen: set[Hashable] = set()
        out: list[Any] = []
        for value in values:
            indexed = self._of(kind, value)
            for key, entry in zip(indexed.keys(), indexed.entries, strict=True):
                if key not in seen:
                    seen.add(key)
                    out.append(entry)
        return out

    def _of(self, kind: str, value: Any) -> _Indexed:
        key = (kind, id(value))
        indexed = self._done.get(key)
        if indexed is None:
            module = _MODULES.get(kind)
            if module is None:
                raise NotSupported(f"Composite component of type {kind} is not supported")
            indexed = self._done[key] = _Indexed(value, module.index([value]))
        return indexed


class _Indexed:
    __slots__ = ("_keys", "entries", "value")

    def __init__(self, value: Any, entries: list[Any]) -> None:
        self.value = value  # kept alive: its id stays its own while the record exists
        self.entries = entries
        self._keys: list[Hashable] | None = None

    def keys(self) -> list[Hashable]:
        if self._keys is None:
            self._keys = [unique_key(entry) for entry in self.entries]
        return self._keys


def query(param: SearchParam, path: str, value: str, modifier: str | None) -> dict[str, Any]:
    if param.type == "composite":
        if modifier is not None:
            raise NotSupported(f"Composite parameter {param.code} takes no modifier")
        result: dict[str, Any] = composite.query_composite(path, value, _component_types(param))
        return result
    return _module(param).query(path, value, modifier)  # type: ignore[no-any-return]


def missing(param: SearchParam, path: str, is_missing: bool) -> dict[str, Any]:
    if param.type == "composite":
        return {path: {"$exists": not is_missing}}
    return _module(param).missing(path, is_missing)  # type: ignore[no-any-return]


def _module(param: SearchParam) -> ModuleType:
    module = _MODULES.get(param.type)
    if module is None:
        raise NotSupported(f"Search parameter {param.code} of type {param.type} is not supported")
    return module


def _component_types(param: SearchParam) -> list[tuple[str, str]]:
    return [(component[0], component[1]) for component in param.components]
