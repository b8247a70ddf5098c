"""A parsed search -> the MongoDB filter and sort that answer it, through the index values each
parameter's type stores (``idx.<code>``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhir_server.search.chain import LIVE, Lookup, clause_filter
from fhir_server.search.filters import conjunction
from fhir_server.search.parse import SearchRequest

# _sort codes -> the stored field that orders by them.
SORT_FIELDS = {"_id": "_id", "_lastUpdated": "ts"}


@dataclass(frozen=True)
class Plan:
    filter: dict[str, Any]
    sort: list[tuple[str, int]]  # always ends with _id: a total order for keyset paging


async def plan(request: SearchRequest, lookup: Lookup, extra: dict[str, Any] | None = None) -> Plan:
    """``extra``: a filter the caller adds (a compartment, say)."""
    clauses = [await clause_filter(clause, request.rtype, lookup) for _, clause in request.clauses]
    sort = [(SORT_FIELDS[k.code], -1 if k.descending else 1) for k in request.sort]
    if not any(field == "_id" for field, _ in sort):
        sort.append(("_id", 1))
    return Plan(conjunction([LIVE, *([extra] if extra else []), *clauses]), sort)
