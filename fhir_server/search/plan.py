"""A parsed search -> the MongoDB filter and sort that answer it, through the index values each
parameter's type stores (``idx.<code>``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhir_server.errors import Invalid
from fhir_server.search import indexing
from fhir_server.search.parse import Clause, SearchRequest

INDEX_FIELD = "idx"
# _sort codes -> the stored field that orders by them.
SORT_FIELDS = {"_id": "_id", "_lastUpdated": "ts"}


@dataclass(frozen=True)
class Plan:
    filter: dict[str, Any]
    sort: list[tuple[str, int]]  # always ends with _id: a total order for keyset paging


def plan(request: SearchRequest) -> Plan:
    clauses = [_clause_filter(clause) for clause in request.clauses]
    sort = [(SORT_FIELDS[k.code], -1 if k.descending else 1) for k in request.sort]
    if not any(field == "_id" for field, _ in sort):
        sort.append(("_id", 1))
    return Plan(conjunction([{"del": {"$ne": True}}, *clauses]), sort)


def conjunction(filters: list[dict[str, Any]]) -> dict[str, Any]:
    """AND of filters as ONE flat document where their keys do not collide: the embedded
    database's planner uses indexes for top-level fields only, never inside ``$and``."""
    merged: dict[str, Any] = {}
    rest: list[dict[str, Any]] = []
    for filter_ in filters:
        if any(key in merged for key in filter_):
            rest.append(filter_)
        else:
            merged.update(filter_)
    if rest:
        merged["$and"] = rest
    return merged


def _clause_filter(clause: Clause) -> dict[str, Any]:
    param = clause.param
    path = f"{INDEX_FIELD}.{param.code}"
    if clause.modifier == "missing":
        if len(clause.values) != 1 or clause.values[0] not in ("true", "false"):
            raise Invalid(f"{param.code}:missing takes true or false")
        return indexing.missing(param, path, clause.values[0] == "true")
    if param.code == "_id" and clause.modifier is None:
        return {"_id": {"$in": list(clause.values)}}
    alternatives = [indexing.query(param, path, value, clause.modifier) for value in clause.values]
    return alternatives[0] if len(alternatives) == 1 else {"$or": alternatives}
