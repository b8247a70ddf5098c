"""A parsed search -> the MongoDB filters (a union of branches, see ``filters``) and the sort
that answer it, through the index values each parameter's type stores (``idx.<code>``)."""

from __future__ import annotations

from dataclasses import dataclass

from fhir_server.search.chain import Lookup, clause_part
from fhir_server.search.codes import CodeSets
from fhir_server.search.filters import Filter, branches
from fhir_server.search.index_plan import served_fields
from fhir_server.search.parse import SearchRequest
from fhir_server.search.sorting import sort_field


@dataclass(frozen=True)
class Plan:
    queries: list[Filter]  # the union of these
    sort: list[tuple[str, int]]  # always ends with _id: a total order for keyset paging


async def plan(
    request: SearchRequest,
    lookup: Lookup,
    extra: Filter | None = None,
    codes: CodeSets | None = None,
) -> Plan:
    """``extra``: a filter the caller adds (a compartment, say); ``codes``: the terminology
    token :in, :not-in, :above and :below use."""
    parts = [
        await clause_part(clause, request.rtype, lookup, codes) for _, clause in request.clauses
    ]
    sort: list[tuple[str, int]] = [
        (sort_field(k.code, k.descending), -1 if k.descending else 1) for k in request.sort
    ]
    if not any(field == "_id" for field, _ in sort):
        sort.append(("_id", 1))
    queries = branches(parts, served_fields(request.rtype), [extra] if extra else [])
    return Plan(queries, sort)
