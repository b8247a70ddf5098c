"""A CodeSystem resource, indexed for lookups: concepts by code, designations, properties and the
is-a hierarchy (nested concepts and parent/child properties)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

JsonObject = dict[str, Any]
_WORDS = re.compile(r"[^\W_]+")

# Properties that encode the hierarchy rather than describe the concept.
PARENT_PROPERTIES = frozenset({"parent", "subsumedBy"})
CHILD_PROPERTIES = frozenset({"child"})
_VALUE_KEYS = (
    "valueCode",
    "valueString",
    "valueBoolean",
    "valueInteger",
    "valueDecimal",
    "valueDateTime",
    "valueCoding",
)


@dataclass(frozen=True, slots=True)
class Designation:
    value: str
    language: str | None = None
    use: JsonObject | None = None  # a Coding

    def to_json(self) -> JsonObject:
        out: JsonObject = {}
        if self.language:
            out["language"] = self.language
        if self.use:
            out["use"] = self.use
        out["value"] = self.value
        return out


@dataclass(frozen=True, slots=True)
class Property:
    code: str
    key: str  # the value[x] key, e.g. valueCode
    value: Any

    def text(self) -> str:
        """The value as filters compare it: booleans as true/false, codings as system|code."""
        if isinstance(self.value, bool):
            return "true" if self.value else "false"
        if isinstance(self.value, dict):
            return f"{self.value.get('system', '')}|{self.value.get('code', '')}"
        return str(self.value)


@dataclass(slots=True)
class Concept:
    code: str
    display: str | None
    definition: str | None = None
    designations: tuple[Designation, ...] = ()
    properties: tuple[Property, ...] = ()
    parents: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    _words: frozenset[str] | None = None

    def words(self) -> frozenset[str]:
        """The lowercase words of the display and designations (text filters match on them)."""
        if self._words is None:
            texts = [self.display or "", *(d.value for d in self.designations)]
            self._words = frozenset(w.lower() for t in texts for w in _WORDS.findall(t))
        return self._words

    def values(self, code: str) -> list[Property]:
        return [p for p in self.properties if p.code == code]

    @property
    def abstract(self) -> bool:
        return any(
            p.code in ("notSelectable", "abstract") and p.value is True for p in self.properties
        )

    @property
    def inactive(self) -> bool:
        for p in self.properties:
            if p.code == "status" and p.value in ("retired", "inactive"):
                return True
            if p.code == "inactive" and p.value is True:
                return True
        return False

    def display_in(self, language: str | None) -> str | None:
        """The display in ``language`` (``nl`` matches ``nl-NL``) when a designation has one."""
        if language:
            wanted = language.lower().split("-")[0]
            for d in self.designations:
                if d.language and d.language.lower().split("-")[0] == wanted:
                    use = (d.use or {}).get("code")
                    if use in (None, "display", "printed-name"):
                        return d.value
        return self.display


class CodeSystemIndex:
    """One CodeSystem version. Built once per resource; cheap to query."""

    def __init__(self, resource: JsonObject) -> None:
        self.resource = resource
        self.url: str = resource.get("url", "")
        self.version: str | None = resource.get("version")
        self.id: str | None = resource.get("id")
        self.name: str = resource.get("title") or resource.get("name") or self.url
        self.content: str = resource.get("content", "complete")
        self.case_sensitive: bool = bool(resource.get("caseSensitive", True))
        self.property_types: dict[str, str] = {
            p["code"]: p.get("type", "string") for p in resource.get("property", []) if "code" in p
        }
        self.concepts: dict[str, Concept] = {}
        self._folded: dict[str, str] = {}
        self._descendants: dict[str, frozenset[str]] = {}
        self._ancestors: dict[str, frozenset[str]] = {}
        self._index(resource.get("concept", []), None)
        self._link_properties()
        if not self.case_sensitive:
            self._folded = {code.lower(): code for code in self.concepts}

    @property
    def complete(self) -> bool:
        """Whether a code we do not hold is known not to exist."""
        return self.content == "complete"

    def get(self, code: str) -> Concept | None:
        found = self.concepts.get(code)
        if found is None and not self.case_sensitive:
            canonical = self._folded.get(code.lower())
            found = self.concepts.get(canonical) if canonical is not None else None
        return found

    def __iter__(self) -> Iterator[Concept]:
        return iter(self.concepts.values())

    def __len__(self) -> int:
        return len(self.concepts)

    def descendants(self, code: str) -> frozenset[str]:
        """Every code below ``code`` (not itself)."""
        cached = self._descendants.get(code)
        if cached is None:
            cached = self._walk(code, lambda c: c.children)
            self._descendants[code] = cached
        return cached

    def ancestors(self, code: str) -> frozenset[str]:
        """Every code above ``code`` (not itself)."""
        cached = self._ancestors.get(code)
        if cached is None:
            cached = self._walk(code, lambda c: c.parents)
            self._ancestors[code] = cached
        return cached

    def subsumes(self, code_a: str, code_b: str) -> str:
        """The $subsumes outcome for two codes this system holds."""
        if code_a == code_b:
            return "equivalent"
        if code_b in self.descendants(code_a):
            return "subsumes"
        if code_a in self.descendants(code_b):
            return "subsumed-by"
        return "not-subsumed"

    # -- building ------------------------------------------------------------------------------

    def _index(self, concepts: list[JsonObject], parent: str | None) -> None:
        for raw in concepts:
            code = raw.get("code")
            if not isinstance(code, str) or not code:
                continue
            concept = self.concepts.get(code)
            if concept is None:
                concept = Concept(
                    code=code,
                    display=raw.get("display"),
                    definition=raw.get("definition"),
                    designations=tuple(_designations(raw)),
                    properties=tuple(_properties(raw)),
                )
                self.concepts[code] = concept
            if parent is not None:
                _link(self.concepts[parent], concept)
            self._index(raw.get("concept", []), code)

    def _link_properties(self) -> None:
        # Only after every concept is known: a parent property may name a later concept.
        for concept in list(self.concepts.values()):
            for prop in concept.properties:
                other = self.concepts.get(prop.text())
                if other is None:
                    continue
                if prop.code in PARENT_PROPERTIES:
                    _link(other, concept)
                elif prop.code in CHILD_PROPERTIES:
                    _link(concept, other)

    def _walk(self, code: str, step: Any) -> frozenset[str]:
        start = self.get(code)
        if start is None:
            return frozenset()
        seen: set[str] = set()
        pending = list(step(start))
        while pending:
            current = pending.pop()
            if current in seen:
                continue
            seen.add(current)
            concept = self.concepts.get(current)
            if concept is not None:
                pending.extend(step(concept))
        seen.discard(start.code)
        return frozenset(seen)


def _link(parent: Concept, child: Concept) -> None:
    if child.code not in parent.children:
        parent.children.append(child.code)
    if parent.code not in child.parents:
        child.parents.append(parent.code)


def _designations(raw: JsonObject) -> Iterator[Designation]:
    for d in raw.get("designation", []):
        value = d.get("value")
        if isinstance(value, str) and value:
            yield Designation(value, d.get("language"), d.get("use"))


def _properties(raw: JsonObject) -> Iterator[Property]:
    for p in raw.get("property", []):
        code = p.get("code")
        if not isinstance(code, str):
            continue
        for key in _VALUE_KEYS:
            if key in p:
                yield Property(code, key, p[key])
                break
