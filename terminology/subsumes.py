"""CodeSystem/$subsumes: how two codes of one code system relate in its is-a hierarchy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fhir_server.errors import Invalid, NotFound, Unprocessable
from terminology.operations import Inputs, OperationDefinition, Param, coding_parts, parameters

if TYPE_CHECKING:
    from terminology.service import TerminologyService

JsonObject = dict[str, Any]

DEFINITION = OperationDefinition(
    resource="CodeSystem",
    code="subsumes",
    description="Test the subsumption relationship between code A and code B.",
    inputs=(
        Param("codeA", "code", doc="The 'A' code (with system)"),
        Param("codeB", "code", doc="The 'B' code (with system)"),
        Param("system", "uri", doc="The code system of both codes"),
        Param("version", "string", doc="The version of the code system"),
        Param("codingA", "Coding", doc="The 'A' Coding (instead of codeA)"),
        Param("codingB", "Coding", doc="The 'B' Coding (instead of codeB)"),
    ),
    outputs=(
        Param("outcome", "code", 1, doc="equivalent | subsumes | subsumed-by | not-subsumed"),
    ),
)


def subsumes(
    service: TerminologyService, system: str, code_a: str, code_b: str, version: str | None = None
) -> str:
    cs = service.code_system(system, version)
    concepts = []
    for label, code in (("A", code_a), ("B", code_b)):
        concept = cs.get(code)
        if concept is None:
            raise NotFound(f"$subsumes: code {label} {code!r} is not in the code system {system}")
        concepts.append(concept)
    return cs.subsumes(concepts[0].code, concepts[1].code)


def run(service: TerminologyService, inputs: Inputs, instance: JsonObject | None) -> JsonObject:
    system, version = inputs.string("system"), inputs.string("version")
    codes: list[str] = []
    for label in ("A", "B"):
        code, coding = inputs.string(f"code{label}"), inputs.get(f"coding{label}")
        if (code is None) == (coding is None):
            raise Invalid(f"$subsumes: give exactly one of code{label} or coding{label}")
        if coding is not None:
            coding_system, code, coding_version, _ = coding_parts(coding, f"coding{label}")
            if coding_system is not None:
                if system is not None and coding_system != system:
                    raise Unprocessable(
                        "$subsumes: both codes must come from one code system "
                        f"({system} vs {coding_system})"
                    )
                system = coding_system
            version = version or coding_version
        assert code is not None
        codes.append(code)
    if instance is not None:
        if system is not None and system != instance.get("url"):
            raise Invalid(
                f"$subsumes: system {system} is not the url of CodeSystem/{instance['id']}"
            )
        system, version = str(instance.get("url")), version or instance.get("version")
    if system is None:
        raise Invalid("$subsumes: the system of the codes is required")
    outcome = subsumes(service, system, codes[0], codes[1], version)
    return parameters([("outcome", {"valueCode": outcome})])
