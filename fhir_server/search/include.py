"""``_include`` and ``_revinclude``: the resources a page refers to, and those that refer to it,
found through the reference indexes (``idx.<param>.r``) of the page's resources."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Protocol

from fhir_server.model.references import parse_reference
from fhir_server.model.resource_types import supported_types
from fhir_server.search.chain import INDEX_FIELD, LIVE
from fhir_server.search.filters import conjunction
from fhir_server.search.parse import Include
from fhir_server.storage.versions import Version

# Per include parameter; a bundle should not balloon because one resource is popular.
MAX_INCLUDED = 1000


class Page(Protocol):
    @property
    def versions(self) -> list[Version]: ...


class Finder(Protocol):
    async def collect(
        self, rtype: str, filter_: dict[str, Any], field: str, limit: int
    ) -> list[Any]: ...

    async def search(
        self,
        rtype: str,
        filter_: dict[str, Any],
        sort: list[tuple[str, int]],
        count: int,
        after: list[Any] | None,
    ) -> Page: ...


async def included(
    rtype: str, matches: list[Version], includes: tuple[Include, ...], finder: Finder
) -> list[Version]:
    seen = {(v.rtype, v.id) for v in matches}
    out: list[Version] = []
    ids = [v.id for v in matches]
    if not ids:
        return out
    for include in includes:
        if include.reverse:
            found = await _reverse(rtype, ids, include, finder)
        else:
            found = await _forward(rtype, ids, include, finder)
        for version in found:
            if (version.rtype, version.id) not in seen:
                seen.add((version.rtype, version.id))
                out.append(version)
    return out


async def _forward(rtype: str, ids: list[str], include: Include, finder: Finder) -> list[Version]:
    field = f"{INDEX_FIELD}.{include.param.code}"
    entries = await finder.collect(rtype, {"_id": {"$in": ids}}, field, len(ids))
    targets: dict[str, set[str]] = defaultdict(set)
    for listed in entries:
        for entry in listed if isinstance(listed, list) else [listed]:
            target = parse_reference(str(entry.get("r", ""))) if isinstance(entry, dict) else None
            if target is None or target[0] not in supported_types():
                continue
            if include.target_type in (None, target[0]):
                targets[target[0]].add(target[1])
    found: list[Version] = []
    for target_type, target_ids in sorted(targets.items()):
        filter_ = conjunction([LIVE, {"_id": {"$in": sorted(target_ids)}}])
        page = await finder.search(target_type, filter_, [("_id", 1)], MAX_INCLUDED, None)
        found += page.versions
    return found


async def _reverse(rtype: str, ids: list[str], include: Include, finder: Finder) -> list[Version]:
    if include.target_type not in (None, rtype):
        return []
    refs = [f"{rtype}/{rid}" for rid in ids]
    filter_ = conjunction([LIVE, {f"{INDEX_FIELD}.{include.param.code}.r": {"$in": refs}}])
    page = await finder.search(include.source_type, filter_, [("_id", 1)], MAX_INCLUDED, None)
    return page.versions
