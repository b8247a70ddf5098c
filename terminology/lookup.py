"""CodeSystem/$lookup: the details of one code (display, designations, properties)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fhir_server.errors import Invalid, NotFound
from terminology.concepts import CHILD_PROPERTIES, PARENT_PROPERTIES, Concept, Designation, Property
from terminology.operations import Inputs, OperationDefinition, Param, coding_parts, parameters

if TYPE_CHECKING:
    from terminology.service import TerminologyService

JsonObject = dict[str, Any]
HIERARCHY = PARENT_PROPERTIES | CHILD_PROPERTIES

DEFINITION = OperationDefinition(
    resource="CodeSystem",
    code="lookup",
    description="Given a code/system, or a Coding, get the details about the concept.",
    inputs=(
        Param("code", "code", doc="The code to look up (with system)"),
        Param("system", "uri", doc="The code system of the code"),
        Param("version", "string", doc="The version of the code system"),
        Param("coding", "Coding", doc="A Coding to look up (instead of code and system)"),
        Param("date", "dateTime", doc="Accepted and ignored: only current definitions are held"),
        Param("displayLanguage", "code", doc="The language of the display returned"),
        Param("property", "code", max="*", doc="The properties wanted (default: all)"),
    ),
    outputs=(
        Param("name", "string", 1, doc="The name of the code system"),
        Param("version", "string", doc="The version of the code system"),
        Param("display", "string", 1, doc="The display of the concept"),
        Param("designation", "", max="*", doc="Other designations of the concept"),
        Param("property", "", max="*", doc="Properties of the concept"),
    ),
)


@dataclass(frozen=True, slots=True)
class LookupResult:
    system: str
    name: str
    version: str | None
    concept: Concept
    display: str

    def to_parameters(self, wanted: frozenset[str] | None = None) -> JsonObject:
        out: list[tuple[str, JsonObject]] = [("name", {"valueString": self.name})]
        if self.version:
            out.append(("version", {"valueString": self.version}))
        out.append(("display", {"valueString": self.display}))
        if wanted is None or "designation" in wanted:
            out += [
                ("designation", {"part": _designation_parts(d)}) for d in self.concept.designations
            ]
        for code, part in _property_parts(self.concept):
            if wanted is None or code in wanted:
                out.append(("property", {"part": part}))
        return parameters(out)


def lookup(
    service: TerminologyService,
    system: str,
    code: str,
    version: str | None = None,
    display_language: str | None = None,
) -> LookupResult:
    cs = service.code_system(system, version)
    concept = cs.get(code)
    if concept is None:
        held = "" if cs.complete else f" (this server holds only a {cs.content} of it)"
        raise NotFound(f"The code {code!r} is not in the code system {system}{held}")
    display = concept.display_in(display_language) or concept.code
    return LookupResult(system, cs.name, cs.version, concept, display)


def run(service: TerminologyService, inputs: Inputs, instance: JsonObject | None) -> JsonObject:
    system, code, version = _what(inputs, instance)
    result = lookup(service, system, code, version, inputs.string("displayLanguage"))
    wanted = frozenset(inputs.all("property")) if inputs.has("property") else None
    return result.to_parameters(wanted)


def _what(inputs: Inputs, instance: JsonObject | None) -> tuple[str, str, str | None]:
    code, system, version = inputs.string("code"), inputs.string("system"), inputs.string("version")
    if inputs.has("coding"):
        if code is not None:
            raise Invalid("$lookup: give either code (with system) or coding, not both")
        system, code, coding_version, _ = coding_parts(inputs.get("coding"), "$lookup coding")
        version = version or coding_version
    if instance is not None:
        if system is not None and system != instance.get("url"):
            raise Invalid(f"$lookup: system {system} is not the url of CodeSystem/{instance['id']}")
        system, version = instance.get("url"), version or instance.get("version")
    if code is None:
        raise Invalid("$lookup: a code (with system) or a coding is required")
    if not system:
        raise Invalid("$lookup: the system of the code is required")
    return system, code, version


def _designation_parts(d: Designation) -> list[JsonObject]:
    parts: list[JsonObject] = []
    if d.language:
        parts.append({"name": "language", "valueCode": d.language})
    if d.use:
        parts.append({"name": "use", "valueCoding": d.use})
    parts.append({"name": "value", "valueString": d.value})
    return parts


def _property_parts(concept: Concept) -> list[tuple[str, list[JsonObject]]]:
    found: list[tuple[str, list[JsonObject]]] = []
    for prop in concept.properties:
        if prop.code not in HIERARCHY:  # listed below from the resolved hierarchy
            found.append((prop.code, _property(prop.code, prop)))
    for parent in concept.parents:
        found.append(
            (
                "parent",
                [{"name": "code", "valueCode": "parent"}, {"name": "value", "valueCode": parent}],
            )
        )
    for child in concept.children:
        found.append(
            (
                "child",
                [{"name": "code", "valueCode": "child"}, {"name": "value", "valueCode": child}],
            )
        )
    found.append(
        (
            "inactive",
            [
                {"name": "code", "valueCode": "inactive"},
                {"name": "value", "valueBoolean": concept.inactive},
            ],
        )
    )
    return found


def _property(code: str, prop: Property) -> list[JsonObject]:
    return [{"name": "code", "valueCode": code}, {"name": "value", prop.key: prop.value}]
