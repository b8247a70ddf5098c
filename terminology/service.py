"""The terminology service: one object other packages call (the HTTP operations, the search
engine's token modifiers, binding validation, the scan and HL7 v2 pipelines).

It reads content through a ``ContentSource`` (bundled content by default; site content layered
in front, see ``terminology.content`` and ``terminology.stored``) and caches value set members
per content generation, so a site's new ValueSet is used at once.
"""

from __future__ import annotations

from typing import Any

from fhir_server.errors import NotFound
from terminology import expand as expand_op
from terminology import lookup as lookup_op
from terminology import subsumes as subsumes_op
from terminology import translate as translate_op
from terminology import validate_code as validate_op
from terminology.compose import Composer, Member
from terminology.concepts import CodeSystemIndex
from terminology.content import ContentSource, bundled_content

JsonObject = dict[str, Any]
# Value sets whose members are cached (each cache entry is the member list of one value set).
_CACHE_SIZE = 512


class TerminologyService:
    def __init__(self, source: ContentSource | None = None) -> None:
        self.source: ContentSource = source if source is not None else bundled_content()
        self.composer = Composer(self.source)
        self._members: dict[tuple[str, str, int], list[Member]] = {}
        self._codes: dict[tuple[str, str, int], frozenset[tuple[str, str]]] = {}
        self._text: dict[tuple[str, str, int], expand_op.TextIndex] = {}

    # -- resolution (404 when unknown) ---------------------------------------------------------

    def code_system(self, url: str, version: str | None = None) -> CodeSystemIndex:
        found = self.source.code_system(url, version)
        if found is None:
            at = f" version {version}" if version else ""
            raise NotFound(f"The code system {url}{at} is not known to this server")
        return found

    def value_set(self, url: str, version: str | None = None) -> JsonObject:
        found = self.source.value_set(url, version)
        if found is None:
            at = f" version {version}" if version else ""
            raise NotFound(f"The value set {url}{at} is not known to this server")
        return found

    def concept_map(self, url: str, version: str | None = None) -> JsonObject:
        found = self.source.concept_map(url, version)
        if found is None:
            at = f" version {version}" if version else ""
            raise NotFound(f"The concept map {url}{at} is not known to this server")
        return found

    def instance(self, rtype: str, rid: str) -> JsonObject:
        found = self.source.by_id(rtype, rid)
        if found is None:
            raise NotFound(f"{rtype}/{rid} is not known to the terminology service")
        return found

    # -- the operations, as a Python API -------------------------------------------------------

    def lookup(
        self,
        system: str,
        code: str,
        version: str | None = None,
        display_language: str | None = None,
    ) -> lookup_op.LookupResult:
        return lookup_op.lookup(self, system, code, version, display_language)

    def validate_code(
        self,
        valueset_url: str,
        system: str | None,
        code: str,
        display: str | None = None,
        *,
        abstract: bool = False,
    ) -> validate_op.ValidationResult:
        """Is (system, code) in the value set? ``system`` None: any system of the value set (a
        primitive ``code`` element)."""
        candidate = validate_op.Candidate(system, code, display)
        return validate_op.in_value_set(
            self, self.value_set(valueset_url), candidate, abstract=abstract
        )

    def validate_code_in_system(
        self, system: str, code: str, display: str | None = None, *, abstract: bool = False
    ) -> validate_op.ValidationResult:
        candidate = validate_op.Candidate(system, code, display)
        return validate_op.in_code_system(self.code_system(system), candidate, abstract=abstract)

    def expand(
        self,
        valueset_url: str,
        text: str | None = None,
        *,
        offset: int = 0,
        count: int | None = None,
        active_only: bool = False,
        display_language: str | None = None,
    ) -> expand_op.Expansion:
        return expand_op.expand(
            self,
            self.value_set(valueset_url),
            text=text,
            offset=offset,
            count=count,
            active_only=active_only,
            display_language=display_language,
        )

    def translate(
        self,
        system: str,
        code: str,
        *,
        url: str | None = None,
        target_system: str | None = None,
        reverse: bool = False,
    ) -> translate_op.Translation:
        maps = [self.concept_map(url)] if url else self.source.concept_maps()
        return translate_op.translate(
            maps, system, code, target_system=target_system, reverse=reverse
        )

    def subsumes(self, system: str, code_a: str, code_b: str, version: str | None = None) -> str:
        return subsumes_op.subsumes(self, system, code_a, code_b, version)

    # -- helpers for search (token :in, :not-in, :above, :below) and binding checks ------------

    def in_value_set(self, valueset_url: str, system: str | None, code: str) -> bool:
        return self.composer.contains(self.value_set(valueset_url), system, code).member is not None

    def value_set_codes(self, valueset_url: str) -> frozenset[tuple[str, str]]:
        """Every (system, code) of the value set: what ``code:in=...`` searches for."""
        vs = self.value_set(valueset_url)
        key = self._key(vs)
        found = self._codes.get(key)
        if found is None:
            found = frozenset((m.system, m.code) for m in self.members(vs))
            self._remember(self._codes, key, found)
        return found

    def descendants(self, system: str, code: str) -> frozenset[str]:
        """The codes below ``code`` (not itself): what ``code:below=system|code`` adds."""
        return self.code_system(system).descendants(code)

    def ancestors(self, system: str, code: str) -> frozenset[str]:
        """The codes above ``code`` (not itself): what ``code:above=system|code`` adds."""
        return self.code_system(system).ancestors(code)

    def members(self, value_set: JsonObject) -> list[Member]:
        """The value set's members; cached for the value sets the content holds (not for those
        posted inline with $expand, even when they carry a url)."""
        if not self._held(value_set):
            return self.composer.members(value_set)
        key = self._key(value_set)
        found = self._members.get(key)
        if found is None:
            found = self.composer.members(value_set)
            self._remember(self._members, key, found)
        return found

    def text_index(self, value_set: JsonObject) -> expand_op.TextIndex:
        """The words of the value set's members (in ``members`` order), for text filters."""
        if not self._held(value_set):
            return expand_op.TextIndex(self.composer.members(value_set))
        key = self._key(value_set)
        found = self._text.get(key)
        if found is None:
            found = expand_op.TextIndex(self.members(value_set))
            self._remember(self._text, key, found)
        return found

    def _held(self, value_set: JsonObject) -> bool:
        url, version = value_set.get("url"), value_set.get("version")
        return isinstance(url, str) and self.source.value_set(url, version) is value_set

    def _key(self, value_set: JsonObject) -> tuple[str, str, int]:
        version = str(value_set.get("version") or "")
        return (str(value_set.get("url")), version, self.source.generation)

    @staticmethod
    def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
        if len(cache) >= _CACHE_SIZE:
            cache.clear()  # content changed many times: start afresh rather than track age
        cache[key] = value


_default: TerminologyService | None = None


def default_service() -> TerminologyService:
    """The service over the bundled content alone (one per process)."""
    global _default
    if _default is None:
        _default = TerminologyService()
    return _default
