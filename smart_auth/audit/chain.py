"""The hash chain over AuditEvents: each event carries its sequence number, the hash of the
event before it and its own hash (of its content, id included, meta excluded). Changing,
removing or reordering any stored event breaks the chain at that point."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

CHAIN_EXTENSION = "https://medrec.dev/fhir/StructureDefinition/audit-chain"
GENESIS = "0" * 64  # the "previous hash" of the first event


def link(event: dict[str, Any], sequence: int, previous: str) -> str:
    """Add the chain extension to ``event`` (in place) and return its hash."""
    parts: list[dict[str, Any]] = [
        {"url": "sequence", "valueInteger": sequence},
        {"url": "previous", "valueString": previous},
    ]
    event["extension"] = [*event.get("extension", []), {"url": CHAIN_EXTENSION, "extension": parts}]
    digest = event_hash(event)
    parts.append({"url": "hash", "valueString": digest})
    return digest


def event_hash(event: dict[str, Any]) -> str:
    """The hash of an event as stored: without meta (the server stamps it) and without the
    chain's own ``hash`` value."""
    content = {key: value for key, value in event.items() if key != "meta"}
    content["extension"] = [_without_hash(ext) for ext in event.get("extension", [])]
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()


def chain_values(event: dict[str, Any]) -> tuple[int, str, str] | None:
    """(sequence, previous, hash) as the event states them; None without a chain extension."""
    for ext in event.get("extension", []):
        if isinstance(ext, dict) and ext.get("url") == CHAIN_EXTENSION:
            values = {
                sub.get("url"): sub.get("valueInteger", sub.get("valueString"))
                for sub in ext.get("extension", [])
                if isinstance(sub, dict)
            }
            sequence, previous, digest = (values.get(k) for k in ("sequence", "previous", "hash"))
            if isinstance(sequence, int) and isinstance(previous, str) and isinstance(digest, str):
                return sequence, previous, digest
    return None


def _without_hash(ext: Any) -> Any:
    if not isinstance(ext, dict) or ext.get("url") != CHAIN_EXTENSION:
        return ext
    subs = [sub for sub in ext.get("extension", []) if sub.get("url") != "hash"]
    return {**ext, "extension": subs}
