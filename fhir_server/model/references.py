"""Reading FHIR references: ``Type/id``, ``Type/id/_history/n`` and absolute URLs."""

from __future__ import annotations

import re

REFERENCE = re.compile(
    r"(?:^|/)(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?$"
)


def parse_reference(reference: str) -> tuple[str, str] | None:
    """(type, id) of a literal reference, or None for contained (#x), urn: and other forms."""
    if not reference or reference.startswith(("#", "urn:")):
        return None
    match = REFERENCE.search(reference)
    if match is None:
        return None
    return match["type"], match["id"]
