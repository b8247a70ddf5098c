"""ConceptMap/$translate: map a code through one concept map (instance level, or ``url``), or
through every concept map whose groups map from the code's system (type level)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fhir_server.errors import Invalid
from terminology.operations import (
    Inputs,
    OperationDefinition,
    Param,
    coding_parts,
    codings_of,
    parameters,
)

if TYPE_CHECKING:
    from terminology.service import TerminologyService

JsonObject = dict[str, Any]
# Equivalences that say "these do not map" rather than giving a target.
NO_MATCH = frozenset({"unmatched", "disjoint"})

DEFINITION = OperationDefinition(
    resource="ConceptMap",
    code="translate",
    description="Translate a code from one value set or code system to another.",
    inputs=(
        Param("url", "uri", doc="The concept map (canonical URL)"),
        Param("conceptMap", "Resource", doc="The concept map itself (POST only)"),
        Param("conceptMapVersion", "string", doc="The version of the concept map"),
        Param("code", "code", doc="The code to translate (with system)"),
        Param("system", "uri", doc="The code system of the code"),
        Param("version", "string", doc="The version of the code system"),
        Param("source", "uri", doc="The source value set: maps from other value sets are skipped"),
        Param("coding", "Coding", doc="A Coding to translate"),
        Param("codeableConcept", "CodeableConcept", doc="Translate each of its codings"),
        Param("target", "uri", doc="The target value set: maps to other value sets are skipped"),
        Param("targetsystem", "uri", doc="Only targets in this code system"),
        Param("reverse", "boolean", doc="Translate from the target to the source"),
    ),
    outputs=(
        Param("result", "boolean", 1, doc="Whether a match was found"),
        Param("message", "string", doc="Why no match was found"),
        Param("match", "", max="*", doc="equivalence, concept (Coding), source (the map)"),
    ),
)


@dataclass(frozen=True, slots=True)
class Match:
    equivalence: str
    system: str | None
    code: str | None
    display: str | None
    source: str  # the ConceptMap's url
    comment: str | None = None

    def to_parameter(self) -> JsonObject:
        part: list[JsonObject] = [{"name": "equivalence", "valueCode": self.equivalence}]
        if self.code is not None:
            coding: JsonObject = {"system": self.system, "code": self.code}
            if self.display:
                coding["display"] = self.display
            part.append({"name": "concept", "valueCoding": coding})
        part.append({"name": "source", "valueUri": self.source})
        return {"part": part}


@dataclass(frozen=True, slots=True)
class Translation:
    matches: list[Match]
    message: str | None = None

    @property
    def result(self) -> bool:
        return any(m.equivalence not in NO_MATCH for m in self.matches)

    def first(self) -> Match | None:
        """The first real match: the map's preferred target."""
        return next((m for m in self.matches if m.equivalence not in NO_MATCH), None)

    def to_parameters(self) -> JsonObject:
        out: list[tuple[str, JsonObject]] = [("result", {"valueBoolean": self.result})]
        if self.message and not self.result:
            out.append(("message", {"valueString": self.message}))
        out += [("match", m.to_parameter()) for m in self.matches]
        return parameters(out)


def translate(
    maps: list[JsonObject],
    system: str | None,
    code: str,
    *,
    target_system: str | None = None,
    source_vs: str | None = None,
    target_vs: str | None = None,
    reverse: bool = False,
) -> Translation:
    matches: list[Match] = []
    for cm in maps:
        if not _scoped(cm, source_vs, target_vs, reverse):
            continue
        for group in cm.get("group", []):
            matches.extend(_group_matches(cm, group, system, code, target_system, reverse))
    if matches:
        return Translation(matches)
    what = f"{system}|{code}" if system else code
    return Translation([], f"No mapping found for {what}")


def run(service: TerminologyService, inputs: Inputs, instance: JsonObject | None) -> JsonObject:
    if instance is not None:
        maps = [instance]
    elif inputs.has("conceptMap"):
        cm = inputs.get("conceptMap")
        if cm.get("resourceType") != "ConceptMap":
            raise Invalid("$translate: conceptMap must be a ConceptMap resource")
        maps = [cm]
    elif inputs.has("url"):
        maps = [service.concept_map(inputs.get("url"), inputs.string("conceptMapVersion"))]
    else:
        maps = service.source.concept_maps()
    options: dict[str, Any] = {
        "target_system": inputs.string("targetsystem"),
        "source_vs": inputs.string("source"),
        "target_vs": inputs.string("target"),
        "reverse": bool(inputs.get("reverse")),
    }
    results = [translate(maps, system, code, **options) for system, code in _codes(inputs)]
    matches = [m for r in results for m in r.matches]
    message = "; ".join(r.message for r in results if r.message) or None
    return Translation(matches, message).to_parameters()


def _codes(inputs: Inputs) -> list[tuple[str | None, str]]:
    given = [name for name in ("code", "coding", "codeableConcept") if inputs.has(name)]
    if len(given) != 1:
        raise Invalid(
            "$translate: give exactly one of code (with system), coding or codeableConcept"
        )
    if given[0] == "code":
        system = inputs.string("system")
        if system is None:
            raise Invalid("$translate: a code needs its system")
        return [(system, inputs.get("code"))]
    if given[0] == "coding":
        system, code, _, _ = coding_parts(inputs.get("coding"), "$translate coding")
        return [(system, code)]
    found: list[tuple[str | None, str]] = []
    for index, coding in enumerate(codings_of(inputs.get("codeableConcept"), "codeableConcept")):
        system, code, _, _ = coding_parts(coding, f"codeableConcept.coding[{index}]")
        found.append((system, code))
    return found


def _scoped(cm: JsonObject, source_vs: str | None, target_vs: str | None, reverse: bool) -> bool:
    source = cm.get("sourceCanonical") or cm.get("sourceUri")
    target = cm.get("targetCanonical") or cm.get("targetUri")
    if reverse:
        source, target = target, source
    return (source_vs is None or source_vs == source) and (target_vs is None or target_vs == target)


def _group_matches(
    cm: JsonObject,
    group: JsonObject,
    system: str | None,
    code: str,
    target_system: str | None,
    reverse: bool,
) -> list[Match]:
    url = str(cm.get("url", ""))
    source, target = group.get("source"), group.get("target")
    if reverse:
        source, target = target, source
    if system is not None and source is not None and system != source:
        return []
    if target_system is not None and target != target_system:
        return []
    found: list[Match] = []
    for element in group.get("element", []):
        for t in element.get("target", []):
            if reverse:
                if t.get("code") == code:
                    found.append(
                        Match(
                            _reverse(t.get("equivalence", "equivalent")),
                            target,
                            element.get("code"),
                            element.get("display"),
                            url,
                            t.get("comment"),
                        )
                    )
            elif element.get("code") == code:
                found.append(
                    Match(
                        t.get("equivalence", "equivalent"),
                        target if t.get("code") else None,
                        t.get("code"),
                        t.get("display"),
                        url,
                        t.get("comment"),
                    )
                )
    if found or reverse:
        return found
    return _unmapped(group, target, code, url)


def _unmapped(group: JsonObject, target: str | None, code: str, url: str) -> list[Match]:
    """What the group's ``unmapped`` rule says about a code it does not list."""
    rule = group.get("unmapped")
    if not isinstance(rule, dict):
        return []
    mode = rule.get("mode")
    if mode == "provided":
        return [Match("equal", target, code, None, url)]
    if mode == "fixed" and rule.get("code"):
        return [Match("equivalent", target, rule["code"], rule.get("display"), url)]
    return []


def _reverse(equivalence: str) -> str:
    return {
        "wider": "narrower",
        "narrower": "wider",
        "subsumes": "specializes",
        "specializes": "subsumes",
    }.get(equivalence, equivalence)
