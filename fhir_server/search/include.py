"""``_include`` and ``_revinclude``: the resources a page refers to, and those that refer to it,
found through the reference indexes (``idx.<param>.r``) of the page's resources."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Protocol

from fhir_server.model.references import parse_reference
from fhir_server.model.resource_types import ON_REQUEST_ONLY, supported_types
from fhir_server.search.chain import INDEX_FIELD
from fhir_server.search.filters import LIVE, Filter
from fhir_server.search.parse import Include
from fhir_server.storage.versions import Version

# Per include parameter; a bundle should not balloon because one resource is popular.
MAX_INCLUDED = 1000


class Page(Protocol):
    @property
    def versions(self) -> list[Version]: ...


class Finder(Protocol):
    async def collect(
        self, rtype: str, queries: list[Filter], field: str, limit: int
    ) -> list[Any]: ...

    async def search(
        self,
        rtype: str,
        queries: list[Filter],
        sort: list[tuple[str, int]],
        count: int,
        after: list[Any] | None,
    ) -> Page: ...

    async def stored_types(self) -> frozenset[str]: ...

    def permitted(self, rtype: str, interaction: str) -> bool: ...


# How many rounds `:iterate` includes follow from what earlier rounds included.
MAX_ITERATIONS = 3


async def included(
    rtype: str, matches: list[Version], includes: tuple[Include, ...], finder: Finder
) -> list[Version]:
    if any(i.reverse and i.given == "*" for i in includes):
        # _revinclude=* names every type that can refer here: skip those never stored (and
        # do not create their collections by searching them)
        stored = await finder.stored_types() - ON_REQUEST_ONLY
        includes = tuple(i for i in includes if not i.reverse or i.source_type in stored)

    seen = {(v.rtype, v.id) for v in matches}
    out: list[Version] = []
    frontier = matches
    for round_ in range(MAX_ITERATIONS + 1):
        # The first round applies every include to the matches; later rounds apply the
        # :iterate ones to what the previous round added.
        active = [i for i in includes if round_ == 0 or i.iterate]
        added: list[Version] = []
        for include in active:
            for version in await _apply(include, frontier, round_ == 0, rtype, finder):
                if (version.rtype, version.id) not in seen:
                    seen.add((version.rtype, version.id))
                    added.append(version)
        out += added
        frontier = added
        if not frontier or not any(i.iterate for i in includes):
            break
    return out


async def _apply(
    include: Include, frontier: list[Version], first: bool, rtype: str, finder: Finder
) -> list[Version]:
    found: list[Version] = []
    by_type: dict[str, list[str]] = defaultdict(list)
    for version in frontier:
        by_type[version.rtype].append(version.id)
    for owner_type, ids in by_type.items():
        if first and owner_type != rtype:
            continue
        if include.reverse:
            found += await _reverse(owner_type, ids, include, finder)
        elif include.source_type == owner_type:
            found += await _forward(owner_type, ids, include, finder)
    return found


async def _forward(rtype: str, ids: list[str], include: Include, finder: Finder) -> list[Version]:
    field = f"{INDEX_FIELD}.{include.param.code}"
    entries = await finder.collect(rtype, [{"_id": {"$in": ids}}], field, len(ids))
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
        if not finder.permitted(target_type, "s"):
            continue  # what the user may not see is left out, not refused as a whole
        query = {"_id": {"$in": sorted(target_ids)}, **LIVE}
        page = await finder.search(target_type, [query], [("_id", 1)], MAX_INCLUDED, None)
        found += page.versions
    return found


async def _reverse(rtype: str, ids: list[str], include: Include, finder: Finder) -> list[Version]:
    if include.target_type not in (None, rtype):
        return []
    if not finder.permitted(include.source_type, "s"):
        return []
    refs = [f"{rtype}/{rid}" for rid in ids]
    # Positive on idx: deleted resources (stored without idx) never match.
    query = {f"{INDEX_FIELD}.{include.param.code}.r": {"$in": refs}}
    page = await finder.search(include.source_type, [query], [("_id", 1)], MAX_INCLUDED, None)
    return page.versions
