"""Keyset paging: a page ends at the sort key of its last resource (``_id`` last, so the order is
total), and the next page starts strictly after it. Writes between pages never shift them.

The cursor is opaque to clients (base64url JSON) and is only ever used as comparison values.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

import orjson

from fhir_server.errors import Invalid

CursorValues = list[Any]


def encode_cursor(values: CursorValues) -> str:
    tagged = [["d", round(v.timestamp() * 1000)] if isinstance(v, datetime) else v for v in values]
    return base64.urlsafe_b64encode(orjson.dumps(tagged)).decode().rstrip("=")


BACKWARD = "b."  # a cursor to the page before a key starts with this


def encode_backward_cursor(values: CursorValues) -> str:
    return BACKWARD + encode_cursor(values)


def decode_any_cursor(text: str, size: int) -> tuple[CursorValues, bool]:
    """(key, backward): ``backward`` for a ``previous`` link's cursor."""
    if text.startswith(BACKWARD):
        return decode_cursor(text[len(BACKWARD) :], size), True
    return decode_cursor(text, size), False


def reversed_sort(sort: list[tuple[str, int]]) -> list[tuple[str, int]]:
    return [(field, -direction) for field, direction in sort]


def decode_cursor(text: str, size: int) -> CursorValues:
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if not isinstance(raw, list) or len(raw) != size:
            raise ValueError
        return [_untag(value) for value in raw]
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise Invalid(
            "_cursor: not a paging cursor issued by this server for this search"
        ) from None


def _untag(value: Any) -> Any:
    if (
        isinstance(value, list)
        and len(value) == 2
        and value[0] == "d"
        and isinstance(value[1], int)
    ):
        return datetime.fromtimestamp(value[1] / 1000, UTC)
    if value is None or (isinstance(value, str | int | float) and not isinstance(value, bool)):
        return value
    raise ValueError("unexpected cursor value")


def key_of(doc: dict[str, Any], sort: list[tuple[str, int]]) -> CursorValues:
    return [field_value(doc, field) for field, _ in sort]


def field_value(doc: dict[str, Any], field: str) -> Any:
    value: Any = doc
    for part in field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def after(sort: list[tuple[str, int]], key: CursorValues) -> list[dict[str, Any]]:
    """Documents strictly after ``key`` in ``sort`` order, as alternatives free of top-level
    operators (see ``filters``). A missing value (None) sorts first ascending and last
    descending, as MongoDB orders null; ``{field: None}`` matches null and missing."""
    alternatives: list[dict[str, Any]] = []
    for position, (field, direction) in enumerate(sort):
        ties = {f: v for (f, _), v in zip(sort[:position], key[:position], strict=True)}
        value = key[position]
        if value is None:
            if direction == 1:  # everything with a value follows the missing ones
                alternatives.append({**ties, field: {"$ne": None}})
        elif direction == 1:
            alternatives.append({**ties, field: {"$gt": value}})
        else:
            alternatives.append({**ties, field: {"$lt": value}})
            alternatives.append({**ties, field: None})
    return alternatives


def in_order(docs: list[dict[str, Any]], sort: list[tuple[str, int]]) -> list[dict[str, Any]]:
    """``docs`` ordered as the database orders them under ``sort``: merges the results of
    several queries."""
    ordered = list(docs)
    for field, direction in reversed(sort):  # stable sorts, last key first
        ordered.sort(key=lambda doc: _comparable(field_value(doc, field)), reverse=direction == -1)
    return ordered


def _comparable(value: Any) -> tuple[int, Any]:
    return (0, 0) if value is None else (1, value)
