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
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return value
    raise ValueError("unexpected cursor value")


def key_of(doc: dict[str, Any], sort: list[tuple[str, int]]) -> CursorValues:
    return [doc.get(field) for field, _ in sort]


def after(sort: list[tuple[str, int]], key: CursorValues) -> dict[str, Any]:
    """Documents strictly after ``key`` in ``sort`` order."""
    alternatives = []
    for position, (field, direction) in enumerate(sort):
        clause = {f: v for (f, _), v in zip(sort[:position], key[:position], strict=True)}
        clause[field] = {"$gt" if direction == 1 else "$lt": key[position]}
        alternatives.append(clause)
    return alternatives[0] if len(alternatives) == 1 else {"$or": alternatives}
