"""Where terminology resources come from: the content the service consults.

A ``ContentSource`` answers "the CodeSystem / ValueSet / ConceptMap with this canonical URL" and
"the resource with this id" (instance-level operations). ``MemoryContent`` holds resources in
memory, indexed; the bundled content (``terminology/content/``) is one, loaded once. Resources
admins store through the FHIR API are another (``terminology.stored``), layered in front of the
bundled one by ``LayeredContent`` so that a site's own ConceptMap replaces the default one with
the same URL.

Sources are synchronous and in memory on purpose: the search engine asks for value set members
while it builds a MongoDB query, which is synchronous code.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import orjson

from terminology.concepts import CodeSystemIndex

JsonObject = dict[str, Any]
CONTENT_DIR = Path(__file__).parent / "content"
TERMINOLOGY_TYPES = ("CodeSystem", "ValueSet", "ConceptMap")
_generations = itertools.count(1)


class ContentSource(Protocol):
    @property
    def generation(self) -> int:
        """Changes whenever the content does: caches keyed on it stay correct."""
        ...

    def code_system(self, url: str, version: str | None = None) -> CodeSystemIndex | None: ...

    def value_set(self, url: str, version: str | None = None) -> JsonObject | None: ...

    def concept_map(self, url: str, version: str | None = None) -> JsonObject | None: ...

    def concept_maps(self) -> list[JsonObject]: ...

    def by_id(self, rtype: str, rid: str) -> JsonObject | None: ...


class MemoryContent:
    """Terminology resources held in memory, by canonical URL (and version) and by id."""

    def __init__(self, resources: Iterable[JsonObject] = ()) -> None:
        # url -> version ("" when none) -> resource; the last one put is the default version.
        self._by_url: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in TERMINOLOGY_TYPES}
        self._latest: dict[str, dict[str, str]] = {t: {} for t in TERMINOLOGY_TYPES}
        self._by_id: dict[tuple[str, str], JsonObject] = {}
        self._indexes: dict[tuple[str, str], CodeSystemIndex] = {}
        self._generation = next(_generations)
        for resource in resources:
            self.put(resource)

    @property
    def generation(self) -> int:
        return self._generation

    def put(self, resource: JsonObject) -> None:
        rtype = resource.get("resourceType")
        url = resource.get("url")
        if rtype not in TERMINOLOGY_TYPES or not isinstance(url, str) or not url:
            raise ValueError("a CodeSystem, ValueSet or ConceptMap with a url is needed")
        rid = resource.get("id")
        if isinstance(rid, str):
            self.remove(rtype, rid)
            self._by_id[(rtype, rid)] = resource
        version = str(resource.get("version") or "")
        self._by_url[rtype].setdefault(url, {})[version] = resource
        self._latest[rtype][url] = version
        self._indexes.pop((url, version), None)
        self._generation = next(_generations)

    def remove(self, rtype: str, rid: str) -> None:
        old = self._by_id.pop((rtype, rid), None)
        if old is None:
            return
        url, version = old.get("url", ""), str(old.get("version") or "")
        versions = self._by_url[rtype].get(url, {})
        if versions.get(version) is old:
            del versions[version]
            self._indexes.pop((url, version), None)
            if not versions:
                self._by_url[rtype].pop(url, None)
                self._latest[rtype].pop(url, None)
            elif self._latest[rtype].get(url) == version:
                self._latest[rtype][url] = next(reversed(versions))
        self._generation = next(_generations)

    def code_system(self, url: str, version: str | None = None) -> CodeSystemIndex | None:
        resource, found_version = self._find("CodeSystem", url, version)
        if resource is None:
            return None
        key = (url, found_version)
        index = self._indexes.get(key)
        if index is None:
            index = CodeSystemIndex(resource)
            self._indexes[key] = index
        return index

    def value_set(self, url: str, version: str | None = None) -> JsonObject | None:
        return self._find("ValueSet", url, version)[0]

    def concept_map(self, url: str, version: str | None = None) -> JsonObject | None:
        return self._find("ConceptMap", url, version)[0]

    def concept_maps(self) -> list[JsonObject]:
        latest = self._latest["ConceptMap"]
        return [versions[latest[url]] for url, versions in self._by_url["ConceptMap"].items()]

    def by_id(self, rtype: str, rid: str) -> JsonObject | None:
        return self._by_id.get((rtype, rid))

    def resources(self, rtype: str) -> list[JsonObject]:
        return [r for versions in self._by_url[rtype].values() for r in versions.values()]

    def _find(self, rtype: str, url: str, version: str | None) -> tuple[JsonObject | None, str]:
        if "|" in url and version is None:
            url, version = url.split("|", 1)
        versions = self._by_url[rtype].get(url)
        if not versions:
            return None, ""
        key = version if version is not None else self._latest[rtype][url]
        return versions.get(key), key


class LayeredContent:
    """Several sources, the first that knows a URL or id wins (site content before bundled)."""

    def __init__(self, *layers: ContentSource) -> None:
        self.layers = layers

    @property
    def generation(self) -> int:
        return hash(tuple(layer.generation for layer in self.layers))

    def code_system(self, url: str, version: str | None = None) -> CodeSystemIndex | None:
        for layer in self.layers:
            found = layer.code_system(url, version)
            if found is not None:
                return found
        return None

    def value_set(self, url: str, version: str | None = None) -> JsonObject | None:
        for layer in self.layers:
            found = layer.value_set(url, version)
            if found is not None:
                return found
        return None

    def concept_map(self, url: str, version: str | None = None) -> JsonObject | None:
        for layer in self.layers:
            found = layer.concept_map(url, version)
            if found is not None:
                return found
        return None

    def concept_maps(self) -> list[JsonObject]:
        seen: set[str] = set()
        result: list[JsonObject] = []
        for layer in self.layers:
            for cm in layer.concept_maps():
                url = str(cm.get("url"))
                if url not in seen:
                    seen.add(url)
                    result.append(cm)
        return result

    def by_id(self, rtype: str, rid: str) -> JsonObject | None:
        for layer in self.layers:
            found = layer.by_id(rtype, rid)
            if found is not None:
                return found
        return None


def load_directory(folder: Path) -> MemoryContent:
    """Every CodeSystem, ValueSet and ConceptMap JSON file under ``folder``."""
    resources = []
    for path in sorted(folder.rglob("*.json")):
        resource = orjson.loads(path.read_bytes())
        if isinstance(resource, dict) and resource.get("resourceType") in TERMINOLOGY_TYPES:
            resources.append(resource)
    return MemoryContent(resources)


@cache
def bundled_content() -> MemoryContent:
    """The content shipped in ``terminology/content/`` (read once per process)."""
    return load_directory(CONTENT_DIR)
