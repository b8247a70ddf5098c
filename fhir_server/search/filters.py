"""From a search's AND-ed clauses to MongoDB filters an index can answer: a union of branches.

The embedded database (SecantusDB 0.7) picks an index only for a top-level field of a filter
without top-level operators: it tries the fields in order, looks up the first one an index
serves, and applies the whole filter to those candidates; any ``$and``/``$or`` at the top makes
it scan the collection (measured, 5,000 Observations: a date range 7 ms from the index, 600 ms
scanned). So a search becomes a few such filters ("branches"), the best indexed field of each
first; the repository runs them and merges the results in sort order. Real MongoDB answers
the same filters as well as one ``$or``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import product
from math import prod
from typing import Any

Filter = dict[str, Any]

LIVE: Filter = {"del": {"$ne": True}}
# More branches than this and a search runs as one filter with $or (correct, but scanned).
MAX_BRANCHES = 16
# Marks a date parameter's entries that an index bound on ``lo`` cannot find (see Narrow).
WIDE = "wide"
_MATCH_OPERATORS = ("$elemMatch", "$all")
_POSITIVE = frozenset({"$elemMatch", "$all", "$eq", "$gt", "$gte", "$lt", "$lte", "$regex"})


@dataclass(frozen=True)
class Narrow:
    """A date clause's form for documents whose parameter holds ONE entry no wider than a day
    (stored without the ``WIDE`` marker): ``exact`` needs no alternatives for them, and every
    match has its entry's low end within ``low`` (conditions on ``idx.<code>.lo``), which an
    index serves. Documents with the marker are searched with the clause's full form."""

    code: str
    exact: Filter
    low: dict[str, Any]


@dataclass(frozen=True)
class Part:
    """One AND-ed clause: it holds when one of its alternatives does. Alternatives carry no
    top-level ``$or``."""

    alternatives: tuple[Filter, ...]
    narrow: Narrow | None = None

    @staticmethod
    def of(filter_: Filter, narrow: Narrow | None = None) -> Part:
        """A filter as the index types build it: conditions, or ``$or`` of conditions."""
        if set(filter_) == {"$or"} and isinstance(filter_["$or"], list) and filter_["$or"]:
            return Part(tuple(filter_["$or"]), narrow)
        return Part((filter_,), narrow)


def branches(
    parts: Sequence[Part], indexed: Iterable[str] = (), extra: Sequence[Filter] = ()
) -> list[Filter]:
    """The union of filters that together match exactly what every part matches.

    ``indexed``: the fields the collection has an index on (the best one leads each branch);
    ``extra``: filters AND-ed into every branch (a compartment, a paging key)."""
    indexed = frozenset(indexed)
    extra_parts = [Part((f,)) for f in extra]
    narrow_codes = sorted({p.narrow.code for p in parts if p.narrow is not None})
    size = prod(len(p.alternatives) for p in parts)
    if (len(narrow_codes) + 1) * size > MAX_BRANCHES:
        return [_finish(_one_filter([*parts, *extra_parts]), indexed)]
    out: list[Filter] = []
    if narrow_codes:
        access = [{f"idx.{code}.lo": _intersect(_lows(parts, code))} for code in narrow_codes]
        choices = [(p.narrow.exact,) if p.narrow else p.alternatives for p in parts]
        out += [_merge([*access, *combo]) for combo in _combos(choices, extra_parts)]
        for code in narrow_codes:
            marker = {f"idx.{code}.lo": WIDE}
            alternatives = [p.alternatives for p in parts]
            out += [_merge([marker, *combo]) for combo in _combos(alternatives, extra_parts)]
    else:
        alternatives = [p.alternatives for p in parts]
        out = [_merge(list(combo)) for combo in _combos(alternatives, extra_parts)]
    return [_finish(branch, indexed) for branch in out]


def with_alternatives(queries: Sequence[Filter], alternatives: Sequence[Filter]) -> list[Filter]:
    """Each branch AND-ed with each alternative (a paging key's): still a union of branches."""
    return [_merge([query, alt]) for query in queries for alt in alternatives]


def union(queries: Sequence[Filter]) -> Filter:
    """The branches as one filter (for counting, where one round trip matters more)."""
    return queries[0] if len(queries) == 1 else {"$or": list(queries)}


def _lows(parts: Sequence[Part], code: str) -> list[dict[str, Any]]:
    return [p.narrow.low for p in parts if p.narrow is not None and p.narrow.code == code]


def _combos(choices: list[tuple[Filter, ...]], extra: list[Part]) -> Iterable[tuple[Filter, ...]]:
    return product(*choices, *(p.alternatives for p in extra))


def _one_filter(parts: Sequence[Part]) -> Filter:
    return _merge(
        p.alternatives[0] if len(p.alternatives) == 1 else {"$or": list(p.alternatives)}
        for p in parts
    )


def _merge(filters: Iterable[Filter]) -> Filter:
    """AND of filters as one document: conditions on one field are combined on that field
    (several ``$elemMatch`` as ``$all``, which keeps each match independent); what cannot be
    combined goes to ``$and``."""
    merged: Filter = {}
    rest: list[Filter] = []
    for filter_ in filters:
        for key, condition in filter_.items():
            if key not in merged:
                merged[key] = condition
                continue
            combined = _combine(key, merged[key], condition)
            if combined is None:
                rest.append({key: condition})
            else:
                merged[key] = combined
    if rest:
        merged["$and"] = [*merged.get("$and", []), *rest]
    return merged


def _combine(key: str, a: Any, b: Any) -> Any | None:
    if key.startswith("$"):
        return [*a, *b] if key == "$and" else None
    ops_a, ops_b = _operators(a), _operators(b)
    if ops_a is None or ops_b is None:
        return None
    matches = _element_matches(ops_a) + _element_matches(ops_b)
    plain_a = {k: v for k, v in ops_a.items() if k not in _MATCH_OPERATORS}
    plain_b = {k: v for k, v in ops_b.items() if k not in _MATCH_OPERATORS}
    if key == "_id" and "$in" in plain_a and "$in" in plain_b:
        kept = set(plain_b.pop("$in"))
        plain_a["$in"] = [v for v in plain_a["$in"] if v in kept]
    if set(plain_a) & set(plain_b):
        return None
    if matches and (_all_values(ops_a) is None or _all_values(ops_b) is None):
        return None
    out: dict[str, Any] = {**plain_a, **plain_b}
    if len(matches) == 1:
        out.update(matches[0])
    elif matches:
        out["$all"] = matches
    return out


def _operators(condition: Any) -> dict[str, Any] | None:
    if isinstance(condition, dict) and condition and all(k.startswith("$") for k in condition):
        return condition
    if isinstance(condition, dict):
        return None  # a literal sub-document
    return {"$eq": condition}


def _element_matches(ops: dict[str, Any]) -> list[dict[str, Any]]:
    if "$elemMatch" in ops:
        return [{"$elemMatch": ops["$elemMatch"]}]
    listed = ops.get("$all")
    return list(listed) if isinstance(listed, list) else []


def _all_values(ops: dict[str, Any]) -> list[Any] | None:
    """An ``$all`` of plain values cannot join ``$elemMatch`` ones: None then."""
    listed = ops.get("$all", [])
    if any(not (isinstance(v, dict) and "$elemMatch" in v) for v in listed):
        return None
    return list(listed)


def _intersect(conditions: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The tightest of several range conditions on one field (all must hold)."""
    low: tuple[Any, bool] | None = None  # (bound, inclusive)
    high: tuple[Any, bool] | None = None
    for condition in conditions:
        for op, bound in condition.items():
            if op in ("$gt", "$gte"):
                candidate = (bound, op == "$gte")
                if low is None or (bound, not candidate[1]) > (low[0], not low[1]):
                    low = candidate
            elif op in ("$lt", "$lte"):
                candidate = (bound, op == "$lte")
                if high is None or (bound, candidate[1]) < (high[0], high[1]):
                    high = candidate
    out: dict[str, Any] = {}
    if low is not None:
        out["$gte" if low[1] else "$gt"] = low[0]
    if high is not None:
        out["$lte" if high[1] else "$lt"] = high[0]
    return out or {"$exists": True}


# Entry sub-fields an index may lead with (see index_plan.PRIMARY_SUBFIELD).
_SUBFIELDS = ("c", "r", "n", "lo", "v", "i")


def _finish(branch: Filter, indexed: frozenset[str]) -> Filter:
    """The branch with its best index-served field first, and the not-deleted condition last
    where nothing else excludes deleted resources (they keep no ``idx`` and no ``comp``)."""
    candidates = list(_access_candidates(branch, indexed))
    out: Filter = {}
    if candidates:
        _, field, condition = min(candidates, key=lambda c: c[0])
        # An implied condition (an $elemMatch's, on the dotted field) only narrows the
        # candidates: the $elemMatch stays and decides.
        out[field] = condition
    for key, condition in branch.items():
        if key not in out:
            out[key] = condition
    if not any(_excludes_deleted(key, condition) for key, condition in out.items()):
        out.update(LIVE)
    return out


def _access_candidates(branch: Filter, indexed: frozenset[str]) -> Iterable[tuple[float, str, Any]]:
    """(rank, field, condition): index-served conditions the branch implies; lower is better."""
    for key, condition in branch.items():
        if key.startswith("$"):
            continue
        if key == "_id" or key in indexed:
            rank = _rank(key, condition)
            if rank is not None:
                yield rank, key, condition
        ops = _operators(condition)
        for match in _element_matches(ops or {}):
            conditions = match["$elemMatch"]
            if not isinstance(conditions, dict):
                continue
            for sub in _SUBFIELDS:
                field = f"{key}.{sub}"
                if sub in conditions and field in indexed:
                    rank = _rank(field, conditions[sub])
                    if rank is not None:
                        yield rank, field, conditions[sub]


def _rank(field: str, condition: Any) -> float | None:
    """How few documents a condition is likely to select, by its shape."""
    ops = _operators(condition)
    if ops is None:
        return None
    if field == "_id" and ("$eq" in ops or "$in" in ops):
        return 0
    if ops.get("$eq") == WIDE:
        return 0.5
    if "$eq" in ops or "$in" in ops:
        return 1 if field == "comp" or field.endswith(".r") else 2
    ranged = {"$gt", "$gte", "$lt", "$lte"} & set(ops)
    if ranged and set(ops) <= {"$gt", "$gte", "$lt", "$lte"}:
        both = bool({"$gt", "$gte"} & ranged) and bool({"$lt", "$lte"} & ranged)
        return 3 if both else 4
    return None


def _excludes_deleted(key: str, condition: Any) -> bool:
    """A deleted resource is stored as ``{_id, v, ts, del}``: a condition that needs ``idx``
    or ``comp`` to be present never matches one."""
    if not (key.startswith("idx") or key == "comp"):
        return False
    ops = _operators(condition)
    if ops is None:
        return True
    if "$eq" in ops:
        return ops["$eq"] is not None
    if "$in" in ops:
        return None not in ops["$in"] and [] not in ops["$in"]
    return bool(_POSITIVE & set(ops))
