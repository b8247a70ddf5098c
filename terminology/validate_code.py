"""ValueSet/$validate-code and CodeSystem/$validate-code: is this code (Coding, CodeableConcept)
valid in this value set / code system, and is its display right?

A code that is not valid is an answer (``result`` false, with a message), not an error; errors
are reserved for a request that cannot be answered (unknown value set or code system, malformed
parameters). A display that matches neither the display nor a designation makes the result
false, and the right display is returned. Abstract codes are valid only with ``abstract=true``.
When the code system is not held, or only a fragment of it, the result is false and
``inconclusive`` is set (the Python API; in Parameters the message says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fhir_server.errors import Invalid
from terminology.compose import Member, Membership
from terminology.concepts import CodeSystemIndex, Concept
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

_COMMON = (
    Param("code", "code", doc="The code to validate"),
    Param("display", "string", doc="The display to check"),
    Param("coding", "Coding", doc="A Coding to validate (instead of code)"),
    Param("codeableConcept", "CodeableConcept", doc="Valid when one of its codings is valid"),
    Param("date", "dateTime", doc="Accepted and ignored: only current definitions are held"),
    Param("abstract", "boolean", doc="Whether abstract (not selectable) codes are acceptable"),
    Param("displayLanguage", "code", doc="The language of the display returned"),
)
_OUTPUTS = (
    Param("result", "boolean", 1, doc="Whether the code is valid"),
    Param("message", "string", doc="Why it is not valid, or a warning"),
    Param("display", "string", doc="The display of the code"),
)
VALUE_SET = OperationDefinition(
    resource="ValueSet",
    code="validate-code",
    description="Validate that a coded value is in the set of codes allowed by a value set.",
    inputs=(
        Param("url", "uri", doc="The value set (canonical URL)"),
        Param("valueSet", "Resource", doc="The value set itself (POST only)"),
        Param("valueSetVersion", "string", doc="The version of the value set"),
        Param("system", "uri", doc="The code system of the code"),
        Param("systemVersion", "string", doc="The version of the code system"),
        *_COMMON,
    ),
    outputs=_OUTPUTS,
)
CODE_SYSTEM = OperationDefinition(
    resource="CodeSystem",
    code="validate-code",
    description="Validate that a coded value is in the code system.",
    inputs=(
        Param("url", "uri", doc="The code system (canonical URL)"),
        Param("codeSystem", "Resource", doc="The code system itself (POST only)"),
        Param("version", "string", doc="The version of the code system"),
        *_COMMON,
    ),
    outputs=_OUTPUTS,
)


@dataclass(frozen=True, slots=True)
class ValidationResult:
    result: bool
    message: str | None = None
    display: str | None = None
    system: str | None = None
    code: str | None = None
    inconclusive: bool = False

    def to_parameters(self) -> JsonObject:
        out: list[tuple[str, JsonObject]] = [("result", {"valueBoolean": self.result})]
        if self.message:
            out.append(("message", {"valueString": self.message}))
        if self.display:
            out.append(("display", {"valueString": self.display}))
        return parameters(out)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One coded value to validate: a code (system optional in a value set) and its display."""

    system: str | None
    code: str
    display: str | None = None


def in_value_set(
    service: TerminologyService,
    value_set: JsonObject,
    candidate: Candidate,
    *,
    abstract: bool = False,
    display_language: str | None = None,
) -> ValidationResult:
    membership = service.composer.contains(value_set, candidate.system, candidate.code)
    return _judge(membership, candidate, abstract, display_language)


def in_code_system(
    cs: CodeSystemIndex,
    candidate: Candidate,
    *,
    abstract: bool = False,
    display_language: str | None = None,
) -> ValidationResult:
    if candidate.system is not None and candidate.system != cs.url:
        why = f"{candidate.system}|{candidate.code} is not a code of {cs.url}"
        return ValidationResult(False, why, system=candidate.system, code=candidate.code)
    concept = cs.get(candidate.code)
    if concept is None:
        membership = Membership(
            None,
            not cs.complete,
            f"{candidate.code!r} is not a code of {cs.url}"
            + ("" if cs.complete else f" (this server holds only a {cs.content} of it)"),
        )
    else:
        membership = Membership(Member(cs.url, concept.code, concept.display, cs.version, concept))
    return _judge(membership, candidate, abstract, display_language)


def any_valid(results: list[ValidationResult]) -> ValidationResult:
    """A CodeableConcept is valid when one of its codings is."""
    for result in results:
        if result.result:
            return result
    if len(results) == 1:
        return results[0]
    messages = "; ".join(r.message for r in results if r.message)
    return ValidationResult(
        False, messages or None, inconclusive=any(r.inconclusive for r in results)
    )


def run_value_set(
    service: TerminologyService, inputs: Inputs, instance: JsonObject | None
) -> JsonObject:
    if instance is not None:
        value_set = instance
    elif inputs.has("valueSet"):
        value_set = inputs.get("valueSet")
        if value_set.get("resourceType") != "ValueSet":
            raise Invalid("$validate-code: valueSet must be a ValueSet resource")
    elif inputs.has("url"):
        value_set = service.value_set(inputs.get("url"), inputs.string("valueSetVersion"))
    else:
        raise Invalid("$validate-code: say which value set (url, valueSet, or /ValueSet/{id})")
    options = _options(inputs)
    results = [
        in_value_set(service, value_set, c, **options) for c in _candidates(inputs, "system")
    ]
    return any_valid(results).to_parameters()


def run_code_system(
    service: TerminologyService, inputs: Inputs, instance: JsonObject | None
) -> JsonObject:
    if instance is not None:
        cs = service.code_system(str(instance.get("url")), instance.get("version"))
    elif inputs.has("codeSystem"):
        resource = inputs.get("codeSystem")
        if resource.get("resourceType") != "CodeSystem":
            raise Invalid("$validate-code: codeSystem must be a CodeSystem resource")
        cs = CodeSystemIndex(resource)
    elif inputs.has("url"):
        cs = service.code_system(inputs.get("url"), inputs.string("version"))
    else:
        raise Invalid(
            "$validate-code: say which code system (url, codeSystem, or /CodeSystem/{id})"
        )
    options = _options(inputs)
    results = [in_code_system(cs, c, **options) for c in _candidates(inputs, None)]
    return any_valid(results).to_parameters()


def _options(inputs: Inputs) -> dict[str, Any]:
    return {
        "abstract": bool(inputs.get("abstract")),
        "display_language": inputs.string("displayLanguage"),
    }


def _candidates(inputs: Inputs, system_param: str | None) -> list[Candidate]:
    given = [name for name in ("code", "coding", "codeableConcept") if inputs.has(name)]
    if len(given) != 1:
        raise Invalid("$validate-code: give exactly one of code, coding or codeableConcept")
    if given[0] == "code":
        system = inputs.string(system_param) if system_param else None
        return [Candidate(system, inputs.get("code"), inputs.string("display"))]
    if given[0] == "coding":
        system, code, _, display = coding_parts(inputs.get("coding"), "$validate-code coding")
        return [Candidate(system, code, display or inputs.string("display"))]
    found = []
    for index, coding in enumerate(codings_of(inputs.get("codeableConcept"), "codeableConcept")):
        system, code, _, display = coding_parts(coding, f"codeableConcept.coding[{index}]")
        found.append(Candidate(system, code, display))
    return found


def _judge(
    membership: Membership, candidate: Candidate, abstract: bool, language: str | None
) -> ValidationResult:
    member = membership.member
    what = f"{candidate.system}|{candidate.code}" if candidate.system else candidate.code
    if member is None:
        reason = membership.reason or f"{what} is not valid here"
        return ValidationResult(
            False,
            reason,
            system=candidate.system,
            code=candidate.code,
            inconclusive=membership.inconclusive,
        )
    concept = member.concept
    display = (concept.display_in(language) if concept else None) or member.display
    if member.abstract and not abstract:
        text = f"{what} is abstract (not selectable); pass abstract=true where that is allowed"
        return ValidationResult(False, text, display, member.system, member.code)
    if candidate.display and not _display_ok(candidate.display, member, concept):
        text = (
            f"The display {candidate.display!r} is not a display of {what} (expected {display!r})"
        )
        return ValidationResult(False, text, display, member.system, member.code)
    return ValidationResult(True, None, display, member.system, member.code)


def _display_ok(given: str, member: Member, concept: Concept | None) -> bool:
    wanted = given.strip().lower()
    known = {member.display}
    if concept is not None:
        known.add(concept.display)
        known.update(d.value for d in concept.designations)
    return any(k is not None and k.strip().lower() == wanted for k in known)
