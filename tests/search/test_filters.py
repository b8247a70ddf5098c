"""The planner's union of branches (search/filters.py) finds exactly what the plain filters
find, on a real MongoDB-wire server with the index it leads with: every date prefix, alone and
AND-ed in pairs, over single, multiple and wide values (the cases an index bound on ``lo``
must not lose)."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import product
from typing import Any

import pytest
from pymongo.collection import Collection

from fhir_server.search.filters import LIVE, WIDE, Narrow, Part, branches
from fhir_server.search.index_types import date, token
from tests.search.index_types.support import found, scratch_collection

PATH = "idx.p"
INDEXED = frozenset({"idx.p.lo", "idx.t.c"})
VALUES: dict[str, list[Any]] = {
    "day": ["2020-06-15"],
    "instant": ["2020-06-15T10:30:00Z"],
    "late-instant": ["2020-06-15T23:59:59Z"],
    "zoned": ["2020-06-15T23:30:00-02:00"],
    "month": ["2020-06"],
    "year": ["2020"],
    "period": [{"start": "2020-06-01", "end": "2020-06-30"}],
    "open-end": [{"start": "2020-06-10"}],
    "two-days": ["2020-06-14", "2020-06-17"],  # several values: each may match a clause
    "far-apart": ["2019-01-01", "2021-01-01"],
    "day-before": ["2020-06-14"],
    "day-after": ["2020-06-16"],
}
SEARCHES = [
    f"{prefix}{value}"
    for prefix in ("", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
    for value in ("2020-06-15", "2020-06", "2020-06-15T10:30")
]


def _doc(key: str, values: list[Any]) -> dict[str, Any]:
    entries = date.with_marker(date.index(values))
    tokens = token.index([{"coding": [{"system": "s", "code": key[:3]}]}])
    return {"_id": key, "idx": {"p": entries, "t": tokens}}


@pytest.fixture(scope="module")
def collection(mongodb_uri: str) -> Iterator[Collection[dict[str, Any]]]:
    docs = [_doc(key, values) for key, values in VALUES.items()]
    docs.append({"_id": "deleted", "del": True})
    for coll in scratch_collection(mongodb_uri, docs):
        coll.create_index("idx.p.lo")
        coll.create_index("idx.t.c")
        yield coll


def _part(value: str) -> Part:
    return Part.of(date.query(PATH, value, None), date.narrow("p", PATH, value, None))


def _union(collection: Collection[dict[str, Any]], queries: list[dict[str, Any]]) -> set[str]:
    return set().union(*(found(collection, query) for query in queries))


def _truth(collection: Collection[dict[str, Any]], values: list[str]) -> set[str]:
    plain = [date.query(PATH, value, None) for value in values]
    return found(collection, {"$and": [*plain, LIVE]})


@pytest.mark.parametrize("value", SEARCHES)
def test_one_clause(collection: Collection[dict[str, Any]], value: str) -> None:
    queries = branches([_part(value)], INDEXED)
    assert _union(collection, queries) == _truth(collection, [value])


@pytest.mark.parametrize(("first", "second"), list(product(SEARCHES[::2], SEARCHES[1::3])))
def test_two_clauses(collection: Collection[dict[str, Any]], first: str, second: str) -> None:
    queries = branches([_part(first), _part(second)], INDEXED)
    assert _union(collection, queries) == _truth(collection, [first, second])


def test_the_narrow_branch_leads_with_the_index_and_the_wide_one_with_the_marker() -> None:
    queries = branches([_part("ge2020-06-15"), _part("lt2020-07-01")], INDEXED)
    narrow, wide = queries[0], queries[1:]
    assert next(iter(narrow)) == "idx.p.lo"
    assert set(narrow["idx.p.lo"]) == {"$gte", "$lt"}  # both clauses bound one index scan
    assert all(next(iter(query)) == "idx.p.lo" and query["idx.p.lo"] == WIDE for query in wide)
    assert all(not key.startswith("$") for query in queries for key in query)
    assert all("del" not in query for query in queries)  # idx conditions exclude deletions


def test_or_alternatives_become_branches_each_with_an_index_key() -> None:
    either = Part.of(token.query("idx.t", "s|a", None))
    codes = Part(
        (
            token.query("idx.t", "s|day", None),
            token.query("idx.t", "s|yea", None),
        )
    )
    queries = branches([either, codes], INDEXED)
    assert len(queries) == 2
    assert all(next(iter(query)) == "idx.t.c" for query in queries)


def test_or_clauses_find_the_union(collection: Collection[dict[str, Any]]) -> None:
    codes = Part((token.query("idx.t", "s|day", None), token.query("idx.t", "s|yea", None)))
    queries = branches([codes, _part("ge2020-06-15")], INDEXED)
    assert _union(collection, queries) == {"day", "year", "day-before", "day-after"} & _truth(
        collection, ["ge2020-06-15"]
    )


def test_too_many_alternatives_fall_back_to_one_filter() -> None:
    many = Part(tuple({"idx.x": {"$elemMatch": {"c": str(n)}}} for n in range(5)))
    queries = branches([many, many], INDEXED)
    assert len(queries) == 1
    assert "$or" in queries[0] or "$and" in queries[0]


def test_same_field_twice_keeps_both_matches_independent() -> None:
    first = Part.of({"idx.t": {"$elemMatch": {"c": "a"}}})
    second = Part.of({"idx.t": {"$elemMatch": {"c": "b"}}})
    (query,) = branches([first, second], INDEXED)
    assert query["idx.t"] == {"$all": [{"$elemMatch": {"c": "a"}}, {"$elemMatch": {"c": "b"}}]}
    assert next(iter(query)) == "idx.t.c"


def test_id_lists_intersect_and_nothing_needs_the_live_check_twice() -> None:
    first = Part.of({"_id": {"$in": ["a", "b", "c"]}})
    second = Part.of({"_id": {"$in": ["b", "c", "d"]}})
    (query,) = branches([first, second], INDEXED)
    assert query["_id"] == {"$in": ["b", "c"]}
    assert query["del"] == {"$ne": True}  # an _id alone does not exclude deleted resources


def test_narrow_bounds_hold_for_every_prefix() -> None:
    for value in SEARCHES:
        narrow = date.narrow("p", PATH, value, None)
        assert isinstance(narrow, Narrow)
        assert set(narrow.low) <= {"$gt", "$gte", "$lt", "$lte"}
