"""Site content: the CodeSystems, ValueSets and ConceptMaps stored through the FHIR API (a site's
own colour map, a full licensed LOINC load), layered in front of the bundled content.

``load_stored_content`` reads them all through the repository's public search into a
``MemoryContent``; ``site_service`` puts that in front of the bundled content. To keep it
current, the write path calls ``StoredContent.written`` / ``deleted`` after each committed write
of one of these types (nothing else needs to change: caches are keyed on the content's
generation). Several app processes each hold their own copy: a write on one is seen by the
others when they reload (at start-up, or on a change stream; not wired yet).
"""

from __future__ import annotations

from typing import Any

import orjson

from fhir_server.storage.repository import Repository
from terminology.content import TERMINOLOGY_TYPES, LayeredContent, MemoryContent, bundled_content
from terminology.service import TerminologyService

JsonObject = dict[str, Any]
PAGE = 500


class StoredContent(MemoryContent):
    """The site's terminology resources, kept in step with the repository by its callers."""

    def written(self, resource: JsonObject) -> None:
        if resource.get("resourceType") in TERMINOLOGY_TYPES and resource.get("url"):
            self.put(resource)
        elif isinstance(resource.get("id"), str):  # its url was removed: forget the old one
            self.remove(str(resource.get("resourceType")), resource["id"])

    def deleted(self, rtype: str, rid: str) -> None:
        if rtype in TERMINOLOGY_TYPES:
            self.remove(rtype, rid)

    def on_change(self, rtype: str, rid: str, body: bytes | None) -> None:
        """A ``Repository`` change listener."""
        if rtype not in TERMINOLOGY_TYPES:
            return
        if body is None:
            self.deleted(rtype, rid)
        else:
            self.written(orjson.loads(body))


async def load_stored_content(
    repository: Repository, content: StoredContent | None = None
) -> StoredContent:
    """Every stored terminology resource, into ``content`` (a new one when None)."""
    content = content if content is not None else StoredContent()
    for rtype in TERMINOLOGY_TYPES:
        after: list[Any] | None = None
        while True:
            page = await repository.search(rtype, [{}], [("_id", 1)], PAGE, after)  # all of them
            for version in page.versions:
                if version.deleted or version.body is None:
                    continue
                content.written(orjson.loads(version.body))
            if page.next_key is None:
                break
            after = page.next_key
    return content


def site_service(stored: MemoryContent) -> TerminologyService:
    """The service an app uses: site content first, then the bundled content."""
    return TerminologyService(LayeredContent(stored, bundled_content()))
