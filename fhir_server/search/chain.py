"""Chained parameters and ``_has``, resolved through the indexes one hop at a time: the ids
matching the inner clause (bounded), then a ``$in`` on the reference index of the outer type.
Nothing is ever loaded beyond those ids."""

from __future__ import annotations

from typing import Any, Protocol

from fhir_server.errors import Invalid, TooLarge
from fhir_server.search import indexing
from fhir_server.search.filters import conjunction, with_index_key
from fhir_server.search.parse import Clause, Has

INDEX_FIELD = "idx"
# A hop matching more resources than this asks the client to narrow the search.
MAX_HOP_IDS = 1000
LIVE = {"del": {"$ne": True}}


class Lookup(Protocol):
    async def collect(
        self, rtype: str, filter_: dict[str, Any], field: str, limit: int
    ) -> list[Any]:
        """The values of ``field`` (a dotted path) in the current resources matching
        ``filter_``, at most ``limit`` documents."""


async def clause_filter(clause: Clause | Has, rtype: str, lookup: Lookup) -> dict[str, Any]:
    if isinstance(clause, Has):
        return await _has_filter(clause, rtype, lookup)
    if clause.chain is not None:
        return await _chain_filter(clause, lookup)
    return simple_filter(clause)


def simple_filter(clause: Clause) -> dict[str, Any]:
    param = clause.param
    path = f"{INDEX_FIELD}.{param.code}"
    if clause.modifier == "missing":
        if len(clause.values) != 1 or clause.values[0] not in ("true", "false"):
            raise Invalid(f"{param.code}:missing takes true or false")
        return indexing.missing(param, path, clause.values[0] == "true")
    if param.code == "_id" and clause.modifier is None:
        return {"_id": {"$in": list(clause.values)}}
    alternatives = [indexing.query(param, path, value, clause.modifier) for value in clause.values]
    if len(alternatives) == 1:
        return with_index_key(alternatives[0])
    return {"$or": alternatives}


async def _chain_filter(clause: Clause, lookup: Lookup) -> dict[str, Any]:
    assert clause.chain is not None
    references: list[str] = []
    for target in clause.chain_types:
        inner = await clause_filter(clause.chain, target, lookup)
        ids = await _bounded(lookup, target, inner, "_id")
        references += [f"{target}/{rid}" for rid in ids]
    return {f"{INDEX_FIELD}.{clause.param.code}.r": {"$in": references}}


async def _has_filter(clause: Has, rtype: str, lookup: Lookup) -> dict[str, Any]:
    inner = await clause_filter(clause.inner, clause.source_type, lookup)
    entries = await _bounded(
        lookup, clause.source_type, inner, f"{INDEX_FIELD}.{clause.reference.code}"
    )
    prefix = f"{rtype}/"
    ids = {
        entry["r"][len(prefix) :]
        for listed in entries
        for entry in (listed if isinstance(listed, list) else [listed])
        if isinstance(entry, dict) and str(entry.get("r", "")).startswith(prefix)
    }
    return {"_id": {"$in": sorted(ids)}}


async def _bounded(lookup: Lookup, rtype: str, filter_: dict[str, Any], field: str) -> list[Any]:
    values = await lookup.collect(rtype, conjunction([LIVE, filter_]), field, MAX_HOP_IDS + 1)
    if len(values) > MAX_HOP_IDS:
        raise TooLarge(
            f"A chained or _has step matches more than {MAX_HOP_IDS} {rtype} resources; "
            "narrow the search",
            status=400,
        )
    return values
