"""What the repository hands back: one version of one resource, ready to send."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class Version:
    rtype: str
    id: str
    version: int
    last_updated: datetime
    deleted: bool
    body: bytes | None  # the resource JSON (with meta); None for a deletion
    patched: bool = False  # written by a PATCH (history reports the interaction)

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'

    @property
    def location(self) -> str:
        return f"{self.rtype}/{self.id}/_history/{self.version}"

    @property
    def sort_key(self) -> tuple[float, str, str, int]:
        # History order: newest first; ties broken by type, id, then newest version.
        return (-self.last_updated.timestamp(), self.rtype, self.id, -self.version)


def version_from_document(rtype: str, doc: dict[str, Any], rid_field: str = "_id") -> Version:
    raw = doc.get("raw")
    res = doc.get("res")
    body = bytes(raw) if raw is not None else (orjson.dumps(res) if res is not None else None)
    ts = doc["ts"]
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    deleted = bool(doc.get("del"))
    return Version(rtype, doc[rid_field], doc["v"], ts, deleted, body, bool(doc.get("patch")))


def utc_now_ms(after: datetime | None = None) -> datetime:
    """Now, at MongoDB's millisecond precision, and strictly later than ``after``."""
    now = datetime.now(UTC)
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)
    if after is not None:
        if after.tzinfo is None:
            after = after.replace(tzinfo=UTC)
        if now <= after:
            now = after + timedelta(milliseconds=1)
    return now


def instant(value: datetime) -> str:
    """FHIR instant text with milliseconds, in UTC."""
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )
