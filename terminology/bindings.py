"""Required bindings: a code outside the value set its element is bound to (strength required)
makes the resource invalid. fhir.resources does not check this (``gender: "mail"`` passes).

The element paths come from ``content/required-bindings.json`` (generated from the official
StructureDefinitions by ``scripts/generate_terminology_content.py``, for the resource types medrec
writes and the datatypes they use). Each value set is enumerated once and cached, so a check is a
walk over the resource and set lookups.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson

from fhir_server.errors import Issue, Unprocessable
from fhir_server.model.validation import Validator
from terminology.content import CONTENT_DIR
from terminology.service import TerminologyService, default_service

JsonObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Binding:
    path: tuple[str, ...]  # element names after the resource type
    value_set: str
    type: str  # code | Coding | CodeableConcept

    @property
    def expression(self) -> str:
        return ".".join(self.path)


@cache
def bindings() -> dict[str, tuple[Binding, ...]]:
    raw = orjson.loads((CONTENT_DIR / "required-bindings.json").read_bytes())
    return {
        rtype: tuple(
            Binding(tuple(rule["path"].split(".")[1:]), rule["valueSet"], rule["type"])
            for rule in rules
        )
        for rtype, rules in raw["bindings"].items()
    }


def binding_issues(resource: JsonObject, service: TerminologyService | None = None) -> list[Issue]:
    """One issue per coded value outside its required value set (empty when all are fine)."""
    rtype = resource.get("resourceType")
    rules = bindings().get(rtype, ()) if isinstance(rtype, str) else ()
    if not rules:
        return []
    service = service or default_service()
    issues: list[Issue] = []
    for rule in rules:
        members = service.value_set_codes(rule.value_set)
        codes = {code for _, code in members}
        for where, value in _values(resource, rule.path, str(rtype)):
            problem = _check(rule, value, members, codes)
            if problem is not None:
                issues.append(
                    Issue(
                        "code-invalid",
                        f"{where}: {problem} is not in the value set {rule.value_set} "
                        "(required binding)",
                        expression=(where,),
                    )
                )
    return issues


def check_bindings(resource: JsonObject, service: TerminologyService | None = None) -> None:
    """Raise Unprocessable (422) naming each element and value set when a binding is broken."""
    issues = binding_issues(resource, service)
    if issues:
        raise Unprocessable(issues[0].diagnostics, issues[:20])


class BindingValidator:
    """A ``fhir_server.model.validation.Validator``: the model's checks, then the required
    bindings, against the service the app uses (site content over the bundled one)."""

    def __init__(self, model: Validator, service: TerminologyService) -> None:
        self.model = model
        self.service = service

    def validate(self, resource: JsonObject) -> None:
        self.model.validate(resource)
        check_bindings(resource, self.service)


def _check(
    rule: Binding, value: Any, members: frozenset[tuple[str, str]], codes: set[str]
) -> str | None:
    if rule.type == "code":
        return None if not isinstance(value, str) or value in codes else repr(value)
    codings = (
        [value]
        if rule.type == "Coding"
        else value.get("coding", [])
        if isinstance(value, dict)
        else []
    )
    coded = [c for c in codings if isinstance(c, dict) and isinstance(c.get("code"), str)]
    if not coded or any((c.get("system", ""), c["code"]) in members for c in coded):
        return None  # text only, or one coding from the value set: what a required binding asks
    return ", ".join(f"{c.get('system', '')}|{c['code']}" for c in coded)


def _values(node: Any, path: tuple[str, ...], where: str) -> Iterator[tuple[str, Any]]:
    """(expression, value) of every value at ``path``, through lists."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from _values(item, path, f"{where}[{index}]")
        return
    if not path:
        yield where, node
        return
    if isinstance(node, dict) and path[0] in node:
        yield from _values(node[path[0]], path[1:], f"{where}.{path[0]}")
