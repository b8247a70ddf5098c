"""Chained parameters and ``_has``, resolved through the indexes one hop at a time: the ids
matching the inner clause (bounded), then a ``$in`` on the reference index of the outer type.
Nothing is ever loaded beyond those ids."""

from __future__ import annotations

from typing import Any, Protocol

from fhir_server.errors import Invalid, TooLarge
from fhir_server.search import codes as terminology_modifiers
from fhir_server.search import indexing
from fhir_server.search.codes import CodeSets
from fhir_server.search.definitions import SearchParam
from fhir_server.search.filters import Filter, Part, branches
from fhir_server.search.index_plan import served_fields
from fhir_server.search.index_types import date
from fhir_server.search.parse import Clause, Has

INDEX_FIELD = "idx"
# A hop matching more resources than this asks the client to narrow the search.
MAX_HOP_IDS = 1000


class Lookup(Protocol):
    async def collect(self, rtype: str, queries: list[Filter], field: str, limit: int) -> list[Any]:
        """The values of ``field`` (a dotted path) in at most ``limit`` current resources
        matching one of ``queries`` (a union of filters, see ``filters.branches``)."""


async def clause_part(
    clause: Clause | Has, rtype: str, lookup: Lookup, codes: CodeSets | None = None
) -> Part:
    """``codes``: the terminology that token :in, :not-in, :above and :below ask."""
    if isinstance(clause, Has):
        return Part.of(await _has_filter(clause, rtype, lookup, codes))
    if clause.chain is not None:
        return Part.of(await _chain_filter(clause, lookup, codes))
    return simple_part(clause, codes)


def simple_part(clause: Clause, codes: CodeSets | None = None) -> Part:
    param = clause.param
    path = f"{INDEX_FIELD}.{param.code}"
    if clause.modifier == "missing":
        if len(clause.values) != 1 or clause.values[0] not in ("true", "false"):
            raise Invalid(f"{param.code}:missing takes true or false")
        return Part.of(indexing.missing(param, path, clause.values[0] == "true"))
    if param.code == "_id" and clause.modifier is None:
        return Part.of({"_id": {"$in": list(clause.values)}})
    alternatives = [
        alternative
        for value in clause.values
        for alternative in Part.of(_query(param, path, value, clause.modifier, codes)).alternatives
    ]
    narrow = None
    if param.type == "date" and len(clause.values) == 1:
        narrow = date.narrow(param.code, path, clause.values[0], clause.modifier)
    return Part(tuple(alternatives), narrow)


def _query(
    param: SearchParam, path: str, value: str, modifier: str | None, codes: CodeSets | None
) -> Filter:
    if param.type == "token" and modifier in terminology_modifiers.MODIFIERS:
        return terminology_modifiers.query(path, value, modifier, codes)
    return indexing.query(param, path, value, modifier)


def plan_part(part: Part, rtype: str) -> list[Filter]:
    return branches([part], served_fields(rtype))


async def _chain_filter(clause: Clause, lookup: Lookup, codes: CodeSets | None) -> Filter:
    assert clause.chain is not None
    references: list[str] = []
    for target in clause.chain_types:
        inner = await clause_part(clause.chain, target, lookup, codes)
        ids = await _bounded(lookup, target, inner, "_id")
        references += [f"{target}/{rid}" for rid in ids]
    return {f"{INDEX_FIELD}.{clause.param.code}": {"$elemMatch": {"r": {"$in": references}}}}


async def _has_filter(clause: Has, rtype: str, lookup: Lookup, codes: CodeSets | None) -> Filter:
    inner = await clause_part(clause.inner, clause.source_type, lookup, codes)
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


async def _bounded(lookup: Lookup, rtype: str, part: Part, field: str) -> list[Any]:
    values = await lookup.collect(rtype, plan_part(part, rtype), field, MAX_HOP_IDS + 1)
    if len(values) > MAX_HOP_IDS:
        raise TooLarge(
            f"A chained or _has step matches more than {MAX_HOP_IDS} {rtype} resources; "
            "narrow the search",
            status=400,
        )
    return values
