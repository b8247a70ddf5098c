"""Resource -> raw search index values, for every search parameter of its type.

``extractor(rtype).extract(resource)`` maps each parameter code to the FHIR JSON values its
expression finds: dicts for complex types (CodeableConcept, Reference, Quantity, Period…),
str / int / Decimal / float / bool for primitives, as they are in the resource (not copies).
Parameters that find nothing are left out. A composite parameter gives one dict per element
its expression finds, ``{component code: [values]}`` for every component, the values found
relative to that element. Elements where some component finds nothing are left out: a composite
search gives a value for every component, so they could never match.

Expressions are compiled once per type: to plain Python walks (``fhirpath_compile``) where they
can be, otherwise to fhirpathpy with the R4 model. Both read resources holding Decimal numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, partial
from typing import Any

import fhirpathpy
from fhirpathpy.engine.nodes import FP_Type
from fhirpathpy.models import models

from fhir_server.model.resource_types import supported_types
from fhir_server.search.definitions import (
    SearchParam,
    definitions,
    search_params,
    served_bases,
    unsupported_params,
)
from fhir_server.search.fhirpath_compile import (
    CompiledPath,
    NotCompilable,
    compile_members,
    compile_path,
    first_names,
    for_fhirpathpy,
    split_union,
)

# One parameter's evaluator: (the resource, the resource) -> values. The same signature as a
# CompiledPath, whose first argument is where the expression starts (an element, for components).
Evaluate = Callable[[Any, Any], list[Any]]
# fhirpathpy's compiled form: (resource or node, variables) -> values.
_Fhirpathpy = Callable[[Any, dict[str, Any]], list[Any]]


class Extractor:
    """The compiled expressions of every search parameter of one resource type.

    ``fast=False`` evaluates everything with fhirpathpy: the reference the compiled paths are
    tested and benchmarked against.

    A parameter whose walk starts with names the resource does not have is not evaluated: the
    walk would stop at its first step (``first_names``).
    """

    def __init__(self, rtype: str, *, fast: bool = True) -> None:
        self.rtype = rtype
        compiled = {code: _compile(p, rtype, fast=fast) for code, p in search_params(rtype).items()}
        self._evaluators = tuple(
            (code, evaluate, _first_names(evaluate)) for code, (evaluate, _) in compiled.items()
        )
        self.fast_codes = frozenset(code for code, (_, is_fast) in compiled.items() if is_fast)
        self.fallback_codes = frozenset(compiled) - self.fast_codes

    def extract(self, resource: dict[str, Any]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {}
        keys = resource.keys()
        for code, evaluate, names in self._evaluators:
            if names is not None and keys.isdisjoint(names):
                continue
            values = evaluate(resource, resource)
            if values:
                out[code] = values
        return out


@cache
def extractor(rtype: str) -> Extractor:
    return Extractor(rtype)


def coverage() -> dict[str, int]:
    """How many (served type, official parameter) pairs take each path: ``fast``, ``fallback``
    (fhirpathpy) and ``unsupported``."""
    fast = fallback = 0
    for rtype in sorted(supported_types()):
        fast += len(extractor(rtype).fast_codes)
        fallback += len(extractor(rtype).fallback_codes)
    unsupported = unsupported_params()
    pairs = sum(1 for key in unsupported if not key.startswith("http"))
    pairs += sum(len(served_bases(d)) for d in definitions() if d["url"] in unsupported)
    return {"fast": fast, "fallback": fallback, "unsupported": pairs}


def _compile(param: SearchParam, rtype: str, *, fast: bool) -> tuple[Evaluate, bool]:
    """The evaluator of one parameter, and whether it is a compiled path (else fhirpathpy)."""
    if fast:
        try:
            return _compile_fast(param, rtype), True
        except NotCompilable:
            pass
    return _compile_fhirpathpy(param), False


def _compile_fast(param: SearchParam, rtype: str) -> Evaluate:
    assert param.expression is not None  # search_params() holds none without one
    if param.type != "composite":
        return compile_path(param.expression, rtype)
    members: list[tuple[CompiledPath, tuple[tuple[str, CompiledPath], ...]]] = []
    for base, element_type in compile_members(param.expression, rtype):
        if element_type is None:
            raise NotCompilable(f"{param.code}: composite elements of several types")
        components = tuple(
            (code, compile_path(expression, rtype, element_type))
            for code, _, expression in param.components
        )
        members.append((base, components))
    return _Composite(tuple(members))


def _first_names(evaluate: Evaluate) -> frozenset[str] | None:
    """The names a parameter's walk starts with in the resource (see ``first_names``); None
    when it cannot tell, and the walk is always run."""
    bases = (
        [base for base, _ in evaluate.members] if isinstance(evaluate, _Composite) else [evaluate]
    )
    names: set[str] = set()
    for base in bases:
        found = first_names(base)
        if found is None:
            return None
        names.update(found)
    return frozenset(names)


class _Composite:
    """A compiled composite: for each union member of its expression, the walk to its elements
    and the walk of each component relative to one element.

    Components are evaluated last first (the value, which most elements lack, before the code)
    and no further once one finds nothing: the element is left out anyway, and the walks are
    pure (they read the resource and return what they find in it).
    """

    __slots__ = ("members",)

    def __init__(
        self, members: tuple[tuple[CompiledPath, tuple[tuple[str, CompiledPath], ...]], ...]
    ) -> None:
        self.members = members

    def __call__(self, start: Any, root: Any) -> list[Any]:
        out: list[Any] = []
        for base, components in self.members:
            for element in base(start, root):
                found: list[list[Any]] = []
                for _, path in reversed(components):
                    values = path(element, root)
                    if not values:
                        break
                    found.append(values)
                else:
                    found.reverse()
                    out.append(
                        {code: values for (code, _), values in zip(components, found, strict=True)}
                    )
        return out


# --- fhirpathpy ------------------------------------------------------------------------------


def _compile_fhirpathpy(param: SearchParam) -> Evaluate:
    assert param.expression is not None
    if param.type != "composite":
        return partial(_evaluate, _fhirpathpy(param.expression))
    # The base expression returns fhirpathpy's typed nodes rather than plain JSON, so that
    # components like ``value.as(Quantity)`` still know which choice element they are on. Each
    # union member separately: fhirpathpy's union drops the nodes' types.
    bases = tuple(_fhirpathpy(member, nodes=True) for member in split_union(param.expression))
    components = tuple((code, _fhirpathpy(expr)) for code, _, expr in param.components)
    return partial(_composite_fhirpathpy, bases, components)


def _fhirpathpy(expression: str, *, nodes: bool = False) -> _Fhirpathpy:
    options = {"returnRawData": True} if nodes else None
    compiled: _Fhirpathpy = fhirpathpy.compile(
        for_fhirpathpy(expression), model=models["r4"], options=options
    )
    return compiled


def _evaluate(compiled: _Fhirpathpy, start: Any, root: Any) -> list[Any]:
    return [_plain(value) for value in compiled(start, {"resource": root})]


def _composite_fhirpathpy(
    bases: tuple[_Fhirpathpy, ...],
    components: tuple[tuple[str, _Fhirpathpy], ...],
    start: Any,
    root: Any,
) -> list[Any]:
    variables = {"resource": root}
    out: list[Any] = []
    for base in bases:
        for node in base(start, variables):
            entry = {code: _evaluate(compiled, node, root) for code, compiled in components}
            if all(entry.values()):
                out.append(entry)
    return out


def _plain(value: Any) -> Any:
    # Values computed by fhirpathpy (not found in the resource) come as its own types; dates
    # and times print as FHIR text. Everything else already is the resource's JSON.
    return str(value) if isinstance(value, FP_Type) else value
