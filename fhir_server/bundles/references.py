"""References inside a bundle's resources: placeholders (``urn:uuid:…``, another entry's
fullUrl) replaced by the ids the entries get, conditional references (``Patient?identifier=…``)
by the one resource they find."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from fhir_server.errors import Invalid

_CONDITIONAL = re.compile(r"(?P<type>[A-Z][A-Za-z]{1,63})\?(?P<query>.+)")
_PLACEHOLDER = re.compile(r"urn:(?:uuid|oid):")
Resolver = Callable[[str, str], Awaitable[str]]  # (type, query) -> "Type/id"
URN = b'"urn:'  # how a urn:uuid/urn:oid placeholder starts in a resource's JSON


def may_hold_placeholders(text: bytes, mapping: dict[str, str], urns_only: bool) -> bool:
    """Could the resource whose JSON is ``text`` mention one of ``mapping``'s full URLs? (False
    only when it surely cannot: every full URL is a urn — ``urns_only`` — and the text has
    none.)"""
    return bool(mapping) and (URN in text or not urns_only)


def replace_placeholders(value: Any, mapping: dict[str, str]) -> Any:
    """``value`` with every string equal to a placeholder replaced by its target, anywhere:
    references, extensions, contained resources, canonical and uri elements."""
    if isinstance(value, str):
        return mapping.get(value, value)
    if isinstance(value, list):
        return [replace_placeholders(item, mapping) for item in value]
    if isinstance(value, dict):
        return {key: replace_placeholders(item, mapping) for key, item in value.items()}
    return value


async def resolve_conditional(value: Any, resolve: Resolver) -> Any:
    """``value`` with each ``reference: "Type?search"`` replaced by what ``resolve`` finds."""
    if isinstance(value, list):
        return [await resolve_conditional(item, resolve) for item in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key == "reference" and isinstance(item, str):
            found = _CONDITIONAL.fullmatch(item)
            out[key] = await resolve(found["type"], found["query"]) if found else item
        else:
            out[key] = await resolve_conditional(item, resolve)
    return out


def check_resolved(value: Any, where: str) -> None:
    """A placeholder left in a reference names no entry of the bundle: an error."""
    if isinstance(value, list):
        for item in value:
            check_resolved(item, where)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str) and _PLACEHOLDER.match(item):
                raise Invalid(f"{where}: reference {item[:80]!r} names no entry of the bundle")
            check_resolved(item, where)
