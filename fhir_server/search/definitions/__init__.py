"""The official R4 search parameters (``search_parameters.json``, see README.md): which
parameters each resource type has, and which ones we cannot serve and why.

``search_params(rtype)`` holds only parameters whose values ``search.extract`` can produce: the
others are in ``unsupported_params()``, so every official parameter of a served type is in
exactly one of the two.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from fhir_server.model.resource_types import supported_types
from fhir_server.search.fhirpath_compile import root_name, split_union

DATA = Path(__file__).parent / "search_parameters.json"

# In R4 every resource type is a DomainResource except these three.
NOT_DOMAIN_RESOURCES = frozenset({"Binary", "Bundle", "Parameters"})
ABSTRACT_BASES = ("Resource", "DomainResource")

# Parameters no index can serve, by url.
_UNSUPPORTED_BY_URL = {
    "http://hl7.org/fhir/SearchParameter/Bundle-composition": (
        "the expression returns the document's Composition resource itself (for chained "
        "search into the Bundle), not a Reference to index"
    ),
    "http://hl7.org/fhir/SearchParameter/Bundle-message": (
        "the expression returns the MessageHeader resource itself (for chained search into "
        "the Bundle), not a Reference to index"
    ),
}
_NO_EXPRESSION = "no FHIRPath expression in R4 (full-text search or named query)"
_SPECIAL = "type special (geographic proximity): no index type for it"


@dataclass(frozen=True)
class SearchParam:
    """One search parameter, as it applies to one resource type.

    ``expression``: the members of the official expression for this type only (those starting
    from ``Type``), joined with `` | ``; ``Resource.x`` is written ``Type.x``. For a composite it
    selects the elements whose components are indexed together.
    ``components`` (composite only): ``(code, type, expression)`` for each component, in order:
    the component parameter's code and type, and its expression relative to an element found
    by ``expression`` (it may also start from ``%resource``).
    """

    code: str
    type: str
    url: str
    expression: str | None
    targets: tuple[str, ...] = ()
    components: tuple[tuple[str, str, str], ...] = ()
    modifiers: tuple[str, ...] = ()
    comparators: tuple[str, ...] = ()


def search_params(rtype: str) -> dict[str, SearchParam]:
    """Every parameter we serve for ``rtype`` (a served type), by code; raises KeyError else."""
    return _catalogue()[0][rtype]


def params_of_type(rtype: str) -> dict[str, SearchParam] | None:
    """The parameters of a served type, None for a type medrec does not serve."""
    return search_params(rtype) if rtype in supported_types() else None


def unsupported_params() -> dict[str, str]:
    """The official parameters of served types we do not serve: key -> reason. The key is the
    url when no type can have it, ``Type.code`` when only some types cannot."""
    return dict(_catalogue()[1])


@cache
def definitions() -> tuple[dict[str, Any], ...]:
    """The raw definitions of the data file (see the README for their fields)."""
    return tuple(json.loads(DATA.read_bytes()))


def served_bases(definition: dict[str, Any]) -> list[str]:
    """The served resource types a definition applies to (Resource and DomainResource expand)."""
    types: set[str] = set()
    for base in definition["base"]:
        if base == "Resource":
            types |= supported_types()
        elif base == "DomainResource":
            types |= supported_types() - NOT_DOMAIN_RESOURCES
        elif base in supported_types():
            types.add(base)
    return sorted(types)


def expression_for(expression: str, rtype: str) -> str | None:
    """The members of ``expression`` that apply to ``rtype``; ``Resource.x`` becomes ``Type.x``."""
    mine: list[str] = []
    for member in split_union(expression):
        root = root_name(member)
        if root == rtype:
            mine.append(member)
        elif root in ABSTRACT_BASES:
            mine.append(member.replace(root, rtype, 1))
    return " | ".join(mine) or None


@cache
def _catalogue() -> tuple[dict[str, dict[str, SearchParam]], dict[str, str]]:
    by_url = {d["url"]: d for d in definitions()}
    params: dict[str, dict[str, SearchParam]] = {t: {} for t in sorted(supported_types())}
    unsupported: dict[str, str] = {}
    for definition in definitions():
        bases = served_bases(definition)
        if not bases:
            continue
        reason = _unsupported_reason(definition, by_url)
        if reason is not None:
            unsupported[definition["url"]] = reason
            continue
        for rtype in bases:
            expression = expression_for(definition["expression"], rtype)
            if expression is None:
                unsupported[f"{rtype}.{definition['code']}"] = "the expression has no part for it"
                continue
            if definition["code"] in params[rtype]:
                raise ValueError(f"two definitions of {rtype}.{definition['code']}")
            params[rtype][definition["code"]] = _param(definition, expression, by_url)
    return params, unsupported


def _unsupported_reason(definition: dict[str, Any], by_url: dict[str, Any]) -> str | None:
    if definition["url"] in _UNSUPPORTED_BY_URL:
        return _UNSUPPORTED_BY_URL[definition["url"]]
    if definition["type"] == "special":
        return _SPECIAL
    if not definition["expression"]:
        return _NO_EXPRESSION
    missing = [c["definition"] for c in definition["component"] if c["definition"] not in by_url]
    if missing:
        return f"composite component definitions not found: {', '.join(missing)}"
    return None


def _param(definition: dict[str, Any], expression: str, by_url: dict[str, Any]) -> SearchParam:
    components = tuple(
        (by_url[c["definition"]]["code"], by_url[c["definition"]]["type"], c["expression"])
        for c in definition["component"]
    )
    return SearchParam(
        code=definition["code"],
        type=definition["type"],
        url=definition["url"],
        expression=expression,
        targets=tuple(definition["target"]),
        components=components,
        modifiers=tuple(definition["modifier"]),
        comparators=tuple(definition["comparator"]),
    )
