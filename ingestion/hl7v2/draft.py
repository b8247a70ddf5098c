"""The FHIR transaction a message becomes, built entry by entry: creates (plain or
conditional), conditional upserts and versioned updates, which refer to each other by
``urn:uuid`` placeholders until the bundle processor gives them ids."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any
from urllib.parse import urlencode

from fhir_server.bundles.entries import Entry
from fhir_server.storage.versions import Version

JsonObject = dict[str, Any]


@dataclass
class Draft:
    entries: list[Entry] = field(default_factory=list)

    def _add(
        self,
        method: str,
        resource: JsonObject,
        *,
        rid: str | None = None,
        query: str | None = None,
        if_none_exist: str | None = None,
        if_match: int | None = None,
    ) -> str:
        url = f"urn:uuid:{uuid.uuid4()}"
        rtype = str(resource["resourceType"])
        self.entries.append(
            Entry(
                len(self.entries), method, rtype, rid, query, url, resource, if_none_exist, if_match
            )
        )
        return url

    def create(self, resource: JsonObject, if_none_exist: str | None = None) -> str:
        """A new resource, or (``if_none_exist``) the one the search finds: its placeholder."""
        return self._add("POST", resource, if_none_exist=if_none_exist)

    def upsert(self, resource: JsonObject, query: str) -> str:
        """Replace the one resource the search finds, or create it."""
        return self._add("PUT", resource, query=query)

    def update(self, resource: JsonObject, current: Version) -> str:
        """Replace ``current``, failing if it changed meanwhile."""
        body = {**resource, "id": current.id}
        return self._add("PUT", body, rid=current.id, if_match=current.version)

    @property
    def references(self) -> list[str]:
        return [str(e.full_url) for e in self.entries]


def identifier_query(identifier: JsonObject) -> str:
    """``identifier=system|value`` with the search's own escapes, URL-encoded."""
    token = f"{_escape(identifier.get('system', ''))}|{_escape(identifier['value'])}"
    return urlencode({"identifier": token})


def _escape(text: str) -> str:
    for char in ("\\", "|", ",", "$"):
        text = text.replace(char, "\\" + char)
    return text


@dataclass(frozen=True)
class Context:
    """What a mapper needs besides the message."""

    zone: tzinfo  # for times sent without an offset
    # (type, search) → the one current resource it finds, or None (A40 reads the losing Patient)
    find: Callable[[str, str], Awaitable[Version | None]]
