"""Combining MongoDB filters the way the embedded database's planner can use indexes."""

from __future__ import annotations

from typing import Any


def conjunction(filters: list[dict[str, Any]]) -> dict[str, Any]:
    """AND of filters as ONE flat document where their keys do not collide: SecantusDB's
    planner uses indexes for top-level fields only, never inside ``$and`` (measured: 3 ms with
    an index scan flat, 77 ms as a collection scan inside ``$and``)."""
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


# Entry sub-fields an index may lead with (see index_plan.PRIMARY_SUBFIELD), in preference order.
_INDEXABLE = ("c", "r", "n", "lo", "v", "i")


def with_index_key(filter_: dict[str, Any]) -> dict[str, Any]:
    """``{path: {$elemMatch: {c: X, ...}}}`` plus the implied ``{path.c: X}`` beside it: the
    embedded database's planner never uses an index for a lone ``$elemMatch``. Sound because
    an element matching every condition matches each one."""
    if len(filter_) != 1:
        return filter_
    path, condition = next(iter(filter_.items()))
    if path.startswith("$") or not isinstance(condition, dict):
        return filter_
    elem = condition.get("$elemMatch")
    if len(condition) != 1 or not isinstance(elem, dict):
        return filter_
    for sub in _INDEXABLE:
        if sub in elem:
            return {f"{path}.{sub}": elem[sub], path: condition}
    return filter_
