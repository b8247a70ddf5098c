"""ValueSet.compose evaluated against the content: membership of one code (without expanding),
and the full list of members (expansion).

Supported: include/exclude by system (all codes), by concept list, by filter (``is-a``,
``descendent-of``, ``is-not-a``, ``generalizes``, ``=``, ``in``, ``not-in``, ``exists`` on the
concept itself or on a property) and by other value sets (their intersection). ``regex`` is
refused: patterns come from clients and Python's re can be made to backtrack for ever.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fhir_server.errors import NotFound, Unprocessable
from terminology.concepts import CodeSystemIndex, Concept
from terminology.content import ContentSource

JsonObject = dict[str, Any]
MAX_DEPTH = 8  # value sets including value sets: deeper than this is a cycle
HIERARCHY_PROPERTIES = ("concept", "code")
SUPPORTED_OPS = ("is-a", "descendent-of", "is-not-a", "generalizes", "=", "in", "not-in", "exists")


@dataclass(frozen=True, slots=True)
class Member:
    system: str
    code: str
    display: str | None
    version: str | None = None
    concept: Concept | None = None  # None when the code system is not held

    @property
    def abstract(self) -> bool:
        return self.concept is not None and self.concept.abstract

    @property
    def inactive(self) -> bool:
        return self.concept is not None and self.concept.inactive


@dataclass(frozen=True, slots=True)
class Membership:
    member: Member | None
    # True when the answer could not be known: the code system is not held, or only a fragment.
    inconclusive: bool = False
    reason: str = ""


class Composer:
    def __init__(self, source: ContentSource) -> None:
        self.source = source

    # -- membership ----------------------------------------------------------------------------

    def contains(self, value_set: JsonObject, system: str | None, code: str) -> Membership:
        """Whether (system, code) is in the value set; ``system`` None means "any system" (a
        primitive ``code`` element whose system the binding implies)."""
        return self._contains(value_set, system, code, 0)

    def _contains(self, vs: JsonObject, system: str | None, code: str, depth: int) -> Membership:
        if depth > MAX_DEPTH:
            raise Unprocessable(f"ValueSet {vs.get('url')} includes itself (or nests too deep)")
        compose = vs.get("compose")
        if not isinstance(compose, dict):
            return self._in_expansion(vs, system, code)
        found: Membership = Membership(None, reason=_not_in(vs, system, code))
        for part in compose.get("include", []):
            result = self._part_contains(part, system, code, depth)
            if result.member is not None:
                found = result
                break
            if result.inconclusive:
                found = result
        if found.member is None:
            return found
        member = found.member
        for part in compose.get("exclude", []):
            if self._part_contains(part, member.system, member.code, depth).member is not None:
                return Membership(None, reason=_not_in(vs, system, code))
        return found

    def _part_contains(
        self, part: JsonObject, system: str | None, code: str, depth: int
    ) -> Membership:
        part_system = part.get("system")
        if part_system is not None and system is not None and part_system != system:
            return Membership(None)
        member: Member | None = None
        if part_system is not None:
            result = self._system_part_contains(part, part_system, code)
            if result.member is None:
                return result
            member = result.member
        for url in part.get("valueSet", []):
            inner = self.resolve(url)
            result = self._contains(inner, member.system if member else system, code, depth + 1)
            if result.member is None:
                return result
            member = member or result.member
        return Membership(member)

    def _system_part_contains(self, part: JsonObject, system: str, code: str) -> Membership:
        cs = self.source.code_system(system, part.get("version"))
        listed = part.get("concept")
        if listed is not None:
            for entry in listed:
                if _same_code(cs, entry.get("code"), code):
                    concept = cs.get(code) if cs is not None else None
                    display = entry.get("display") or (concept.display if concept else None)
                    return Membership(
                        Member(system, concept.code if concept else code, display, None, concept)
                    )
            return Membership(None)
        if cs is None:
            return Membership(None, True, f"The code system {system} is not known to this server")
        concept = cs.get(code)
        if concept is None:
            if not cs.complete:
                why = (
                    f"{code!r} is not in {system} as far as this server knows: it holds only "
                    f"a {cs.content} of it"
                )
                return Membership(None, True, why)
            return Membership(None)
        if all(_filter_matches(cs, concept, f) for f in part.get("filter", [])):
            return Membership(Member(system, concept.code, concept.display, cs.version, concept))
        return Membership(None)

    def _in_expansion(self, vs: JsonObject, system: str | None, code: str) -> Membership:
        for entry in _flatten(vs.get("expansion", {}).get("contains", [])):
            if entry.get("code") == code and system in (None, entry.get("system")):
                return Membership(
                    Member(
                        entry.get("system", ""), code, entry.get("display"), entry.get("version")
                    )
                )
        return Membership(None, reason=_not_in(vs, system, code))

    # -- enumeration ---------------------------------------------------------------------------

    def members(self, value_set: JsonObject) -> list[Member]:
        """Every member, in compose order, each (system, code) once."""
        return list(self._members(value_set, 0).values())

    def _members(self, vs: JsonObject, depth: int) -> dict[tuple[str, str], Member]:
        if depth > MAX_DEPTH:
            raise Unprocessable(f"ValueSet {vs.get('url')} includes itself (or nests too deep)")
        compose = vs.get("compose")
        if not isinstance(compose, dict):
            return {
                (e.get("system", ""), e["code"]): Member(
                    e.get("system", ""), e["code"], e.get("display"), e.get("version")
                )
                for e in _flatten(vs.get("expansion", {}).get("contains", []))
                if "code" in e
            }
        result: dict[tuple[str, str], Member] = {}
        for part in compose.get("include", []):
            for member in self._part_members(part, depth):
                result.setdefault((member.system, member.code), member)
        for part in compose.get("exclude", []):
            for member in self._part_members(part, depth):
                result.pop((member.system, member.code), None)
        return result

    def _part_members(self, part: JsonObject, depth: int) -> Iterator[Member]:
        system = part.get("system")
        members: list[Member] | None = None
        if system is not None:
            members = list(self._system_members(part, system))
        for url in part.get("valueSet", []):
            inner = self._members(self.resolve(url), depth + 1)
            if members is None:
                members = list(inner.values())
            else:
                members = [m for m in members if (m.system, m.code) in inner]
        yield from members or ()

    def _system_members(self, part: JsonObject, system: str) -> Iterator[Member]:
        cs = self.source.code_system(system, part.get("version"))
        listed = part.get("concept")
        if listed is not None:
            for entry in listed:
                code = entry.get("code")
                if not isinstance(code, str):
                    continue
                concept = cs.get(code) if cs is not None else None
                display = entry.get("display") or (concept.display if concept else None)
                yield Member(system, concept.code if concept else code, display, None, concept)
            return
        if cs is None:
            raise Unprocessable(
                f"Cannot expand: the code system {system} is not known to this server"
            )
        filters = part.get("filter", [])
        if not filters and not cs.complete:
            raise Unprocessable(
                f"Cannot expand all of {system}: this server holds only a {cs.content} of it"
            )
        for concept in _candidates(cs, filters):
            if all(_filter_matches(cs, concept, f) for f in filters):
                yield Member(system, concept.code, concept.display, cs.version, concept)

    # -- resolution ----------------------------------------------------------------------------

    def resolve(self, url: str) -> JsonObject:
        found = self.source.value_set(url)
        if found is None:
            raise NotFound(f"ValueSet {url} is not known to this server")
        return found


def check_filter(f: Any) -> None:
    """Refuse a malformed or unsupported filter before evaluating anything."""
    if not isinstance(f, dict) or not all(isinstance(f.get(k), str) for k in ("property", "op")):
        raise Unprocessable("A ValueSet filter needs a property, an op and a value")
    if f["op"] not in SUPPORTED_OPS:
        raise Unprocessable(
            f"ValueSet filter op {f['op'][:20]!r} is not supported (supported: "
            + ", ".join(SUPPORTED_OPS)
            + ")"
        )


def _candidates(cs: CodeSystemIndex, filters: list[JsonObject]) -> Iterator[Concept]:
    """Concepts worth testing: a hierarchy filter narrows the walk to a subtree."""
    for f in filters:
        check_filter(f)
    for f in filters:
        if f["property"] in HIERARCHY_PROPERTIES and f["op"] in ("is-a", "descendent-of"):
            root = cs.get(str(f.get("value", "")))
            if root is None:
                return
            codes = set(cs.descendants(root.code))
            if f["op"] == "is-a":
                codes.add(root.code)
            yield from (c for c in cs if c.code in codes)  # keep the code system's order
            return
    yield from cs


def _filter_matches(cs: CodeSystemIndex, concept: Concept, f: JsonObject) -> bool:
    check_filter(f)
    prop: str = f["property"]
    op: str = f["op"]
    value = str(f.get("value", ""))
    if prop in HIERARCHY_PROPERTIES and op in ("is-a", "descendent-of", "is-not-a", "generalizes"):
        target = cs.get(value)
        if target is None:
            return op == "is-not-a"
        if op == "is-a":
            return concept.code == target.code or concept.code in cs.descendants(target.code)
        if op == "descendent-of":
            return concept.code in cs.descendants(target.code)
        if op == "is-not-a":
            return not (concept.code == target.code or concept.code in cs.descendants(target.code))
        return concept.code == target.code or concept.code in cs.ancestors(target.code)
    values = _values(concept, prop)
    if op == "=":
        return value in values
    if op == "in":
        return bool(values & {v.strip() for v in value.split(",")})
    if op == "not-in":
        return not values & {v.strip() for v in value.split(",")}
    if op == "exists":
        return bool(values) == (value.lower() == "true")
    raise Unprocessable(f"ValueSet filter op {op!r} cannot apply to property {prop!r}")


def _values(concept: Concept, prop: str) -> set[str]:
    if prop in HIERARCHY_PROPERTIES:
        return {concept.code}
    if prop == "display":
        return {concept.display} if concept.display else set()
    if prop == "parent":
        return set(concept.parents)
    if prop == "child":
        return set(concept.children)
    return {p.text() for p in concept.values(prop)}


def _same_code(cs: CodeSystemIndex | None, listed: Any, code: str) -> bool:
    if not isinstance(listed, str):
        return False
    if listed == code:
        return True
    return cs is not None and not cs.case_sensitive and listed.lower() == code.lower()


def _flatten(contains: list[JsonObject]) -> Iterator[JsonObject]:
    for entry in contains:
        yield entry
        yield from _flatten(entry.get("contains", []))


def _not_in(vs: JsonObject, system: str | None, code: str) -> str:
    what = f"{system}|{code}" if system else code
    return f"{what} is not in the value set {vs.get('url') or vs.get('id') or '(inline)'}"
