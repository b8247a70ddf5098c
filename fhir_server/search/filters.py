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
