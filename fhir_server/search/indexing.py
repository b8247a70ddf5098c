"""From extracted raw values to stored index entries, and from one search value to a filter:
the dispatch to the module of each search parameter type (``index_types/``)."""

from __future__ import annotations

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
    """meta.lastUpdated is only known once a version is stamped, after extraction."""
    return date.index([last_updated])


def index_entries(
    params: dict[str, SearchParam], extracted: dict[str, list[Any]]
) -> dict[str, Any]:
    """``idx`` of a stored resource: parameter code -> its stored entries (non-empty only)."""
    out: dict[str, Any] = {}
    for code, values in extracted.items():
        param = params.get(code)
        if param is None:
            continue
        if param.type == "composite":
            entries = composite.index_composite(values, _component_types(param))
        else:
            module = _MODULES.get(param.type)
            if module is None:
                continue
            entries = module.index(values)
            if param.type == "date":
                entries = date.with_marker(entries)
        if entries:
            out[code] = entries
    return out


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
