"""Compile the common shapes of search-parameter FHIRPath into plain Python over resource JSON.

Most search expressions (``Observation.code``, ``(Observation.value as Quantity)``,
``Condition.subject.where(resolve() is Patient)``) are walks through nested dicts and lists;
doing the walk directly is two orders of magnitude faster than a FHIRPath engine. Understood,
in each member of a union (``A | B``):

- element names from the resource type, from ``%resource``, or (composite components) from the
  element being indexed;
- choice elements (``value[x]``): ``value`` in FHIRPath, ``valueQuantity``… in JSON; without a
  cast they expand to every JSON name the element may take;
- casts ``(X as T)``, ``X.as(T)``, ``X.ofType(T)``: only the JSON name(s) of type ``T``;
- ``where(resolve() is T)``: only References pointing at a ``T`` (``points_at``);
- ``where(name = 'literal')``.

Anything else raises NotCompilable, and the caller runs fhirpathpy on ``for_fhirpathpy(text)``
instead. Element and choice types come from fhirpathpy's R4 model data, the same data fhirpathpy
itself navigates by, so both paths agree on what ``Observation.value`` means.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache, partial
from typing import Any

# Evaluates one expression: (the element it starts from, the resource) -> the values found.
CompiledPath = Callable[[Any, Any], list[Any]]
# A step that filters or replaces the current values; it may need the resource (contained).
_Filter = Callable[[list[Any], Any], list[Any]]
# A step: a JSON name, several JSON names (an uncast choice element), or a filter.
_Op = str | tuple[str, ...] | _Filter


class NotCompilable(ValueError):
    """The expression uses FHIRPath beyond the subset compiled here."""


def split_union(expression: str) -> list[str]:
    """The members of a top-level union, ``A | (B as T) | C`` -> ``[A, (B as T), C]``."""
    return [member.strip() for member in _split_top_level(expression, "|")]


def _split_top_level(text: str, separator: str) -> list[str]:
    """``text`` split at each ``separator`` outside parentheses and string literals."""
    parts: list[str] = []
    depth, quoted, start = 0, False, 0
    for i, char in enumerate(text):
        if char == "'":
            quoted = not quoted
        elif quoted:
            continue
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == separator and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def root_name(member: str) -> str | None:
    """The identifier a union member starts from: ``(Observation.value as T)`` -> Observation."""
    match = re.match(r"\(*(%?[A-Za-z_][A-Za-z0-9_]*)", member)
    return match.group(1) if match else None


# --- the R4 model: which elements exist, their types, which are choices ---------------------


@dataclass(frozen=True)
class _Model:
    path_types: dict[str, str]  # "Observation.subject" -> "Reference" (leaves and datatypes)
    choices: dict[str, list[str]]  # "Observation.value" -> ["Quantity", "CodeableConcept", …]
    elsewhere: dict[str, str]  # contentReference: "Questionnaire.item.item" -> "…item"
    parents: dict[str, str]  # "Age" -> "Quantity", "Observation" -> "DomainResource"
    backbones: frozenset[str]  # "Observation.component": paths with children but no type


@cache
def _model() -> _Model:
    # Imported here so that the definitions loader can use split_union without paying for
    # fhirpathpy's parser (≈ 0.2 s) when nothing is extracted.
    from fhirpathpy.models import models

    r4 = models["r4"]
    paths = list(r4["path2Type"]) + list(r4["choiceTypePaths"])
    return _Model(
        path_types=r4["path2Type"],
        choices=r4["choiceTypePaths"],
        elsewhere=r4["pathsDefinedElsewhere"],
        parents=r4["type2Parent"],
        backbones=frozenset(p.rsplit(".", 1)[0] for p in paths if p.count(".") > 1),
    )


def _lineage(context: str) -> Iterator[str]:
    """Where the elements of ``context`` are defined: itself, then what it specializes."""
    yield context
    parents = _model().parents
    current: str | None = "BackboneElement" if "." in context else parents.get(context)
    while current:
        yield current
        current = parents.get(current)


def _is_a(type_name: str, wanted: str) -> bool:
    return any(name == wanted for name in _lineage(type_name))


def _fhir_type(suffix: str) -> str:
    """The type a choice suffix names: ``Quantity`` -> Quantity, ``DateTime`` -> dateTime."""
    if suffix in _model().parents:
        return suffix
    return suffix[0].lower() + suffix[1:]


@dataclass(frozen=True)
class _Element:
    choices: tuple[str, ...] | None  # the type suffixes of a choice element
    context: str  # what its own children are looked up under (a type or a backbone path)


def _element(context: str, name: str) -> _Element:
    model = _model()
    for owner in _lineage(context):
        full = f"{owner}.{name}"
        if full in model.choices:
            return _Element(tuple(model.choices[full]), full)
        if full in model.elsewhere:
            return _Element(None, model.elsewhere[full])
        if full in model.path_types:
            return _Element(None, model.path_types[full])
        if full in model.backbones:
            return _Element(None, full)
    raise NotCompilable(f"{context} has no element {name!r}")


# --- parsing a union member into steps ------------------------------------------------------

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CAST = re.compile(r"(?:as|ofType)\(([A-Za-z][A-Za-z0-9]*)\)")
_RESOLVE_IS = re.compile(r"where\(resolve\(\) is ([A-Za-z]+)\)")
_WHERE_EQUALS = re.compile(r"where\(([a-z][A-Za-z0-9]*) ?= ?'([^'\\]*)'\)")
_OUTER_AS = re.compile(r"\(([^()]+) as ([A-Za-z][A-Za-z0-9]*)\)(.*)")


def _steps(member: str) -> list[str]:
    """``(A.b as T).c`` -> ``[A, b, as(T), c]``: the member split at top-level dots."""
    outer = _OUTER_AS.fullmatch(member)
    if outer:
        member = f"{outer.group(1)}.as({outer.group(2)}){outer.group(3)}"
    return _split_top_level(member, ".")


# --- runtime ------------------------------------------------------------------------------


def _restart(values: list[Any], root: Any) -> list[Any]:
    """``%resource``: continue from the resource itself."""
    return [root]


def _run(ops: tuple[_Op, ...], start: Any, root: Any) -> list[Any]:
    """Apply ``ops`` to ``[start]``; JSON arrays flatten, as FHIRPath collections do."""
    values: list[Any] = [start]
    for op in ops:
        if isinstance(op, str):
            found: list[Any] = []
            for value in values:
                if isinstance(value, dict):
                    child = value.get(op)
                    if isinstance(child, list):
                        found.extend(child)
                    elif child is not None:
                        found.append(child)
            values = found
        elif isinstance(op, tuple):
            values = [
                child
                for value in values
                if isinstance(value, dict)
                for name in op
                for child in _as_list(value.get(name))
            ]
        else:
            values = op(values, root)
        if not values:
            return values
    return [value for value in values if _has_value(value)]


def _as_list(child: Any) -> list[Any]:
    if child is None:
        return []
    return child if isinstance(child, list) else [child]


def _has_value(value: Any) -> bool:
    # A null in a primitive array only holds a place for its extension in the "_name" array;
    # an element with nothing but extensions has no value to search on. fhirpathpy drops both.
    if value is None:
        return False
    return not (isinstance(value, dict) and len(value) == 1 and "extension" in value)


def _union(members: tuple[CompiledPath, ...], start: Any, root: Any) -> list[Any]:
    """FHIRPath's ``|``: the members' values without duplicates. Values equal as Python values
    but written differently (``1.0`` and ``1.00``: a different precision to search with) are
    both kept, as fhirpathpy does. The lists are short: no hashing."""
    out: list[Any] = []
    for member in members:
        for value in member(start, root):
            if not any(value == seen and repr(value) == repr(seen) for seen in out):
                out.append(value)
    return out


def first_names(path: CompiledPath) -> tuple[str, ...] | None:
    """The JSON names a compiled path (``compile_path``) starts with: it finds nothing in an
    element that has none of them. None when it does not start with a name (``%resource``)
    or is not a compiled path."""
    if isinstance(path, partial) and path.func is _union:
        names: list[str] = []
        for member in path.args[0]:
            found = first_names(member)
            if found is None:
                return None
            names.extend(name for name in found if name not in names)
        return tuple(names)
    if isinstance(path, partial) and path.func is _run:
        ops = path.args[0]
        if ops and isinstance(ops[0], str):
            return (ops[0],)
        if ops and isinstance(ops[0], tuple):
            return tuple(ops[0])
    return None


def _reference_pattern(rtype: str) -> str:
    """Relative ``T/id``, absolute ``…/T/id``, either with ``/_history/v``."""
    return f"^(.*/)?{rtype}/[^/]+(/_history/[^/]+)?$"


def points_at(reference: Any, rtype: str, root: Any) -> bool:
    """Whether ``resolve() is rtype`` holds for a Reference, judged without fetching anything:
    ``T/id`` or ``…/T/id`` (with or without ``/_history/v``), a conditional ``T?…``, or ``#id``
    naming a contained ``T``. References we cannot classify (``urn:uuid:``, identifiers) fail."""
    text = reference.get("reference") if isinstance(reference, dict) else None
    if not isinstance(text, str):
        return False
    if text.startswith("#"):
        contained = root.get("contained") if isinstance(root, dict) else None
        return any(
            isinstance(r, dict) and r.get("resourceType") == rtype and r.get("id") == text[1:]
            for r in contained or ()
        )
    return text.startswith(rtype + "?") or _references(rtype).match(text) is not None


@cache
def _references(rtype: str) -> re.Pattern[str]:
    return re.compile(_reference_pattern(rtype))


def _keep_pointing_at(rtype: str, values: list[Any], root: Any) -> list[Any]:
    return [value for value in values if points_at(value, rtype, root)]


def _keep_equal(name: str, literal: str, values: list[Any], root: Any) -> list[Any]:
    return [
        value
        for value in values
        if isinstance(value, dict) and value.get(name) in (literal, [literal])
    ]


# --- compiling --------------------------------------------------------------------------


def compile_path(expression: str, rtype: str, context: str | None = None) -> CompiledPath:
    """A compiled evaluator for ``expression`` on a resource of type ``rtype``.

    Without ``context`` the expression names its resource type first (``Observation.code``),
    as search parameter expressions do. With it, the expression is relative (``code``) to an
    element of that type or backbone path (``Observation.component``), as composite components
    are; ``%resource`` still means the resource.
    """
    members = tuple(fn for fn, _ in compile_members(expression, rtype, context))
    return members[0] if len(members) == 1 else partial(_union, members)


def compile_members(
    expression: str, rtype: str, context: str | None = None
) -> list[tuple[CompiledPath, str | None]]:
    """Each union member compiled, with the type (or backbone path) of the elements it returns,
    or None when that differs between values (an uncast choice): composites evaluate their
    components relative to it."""
    out: list[tuple[CompiledPath, str | None]] = []
    for member in split_union(expression):
        ops, end = _compile_member(member, rtype, context)
        out.append((partial(_run, ops), end))
    return out


def _compile_member(
    member: str, rtype: str, context: str | None
) -> tuple[tuple[_Op, ...], str | None]:
    steps = _steps(member)
    ops: list[_Op] = []
    current: str | None = context
    if steps[0] == "%resource":
        ops.append(_restart)
        current = rtype
        steps = steps[1:]
    elif context is None:
        if steps[0] != rtype:
            raise NotCompilable(f"{member!r} does not start from {rtype}")
        current = rtype
        steps = steps[1:]
    i = 0
    while i < len(steps):
        step, following = steps[i], steps[i + 1] if i + 1 < len(steps) else ""
        if current is None:
            raise NotCompilable(f"{member!r} continues after a choice element without a cast")
        if _NAME.fullmatch(step):
            op, current, used = _name_step(current, step, _CAST.fullmatch(following))
            ops.append(op)
            i += used
            continue
        ops.extend(_filter_step(current, step, member))
        i += 1
    return tuple(ops), current


def _name_step(context: str, name: str, cast: re.Match[str] | None) -> tuple[_Op, str | None, int]:
    """The op for one element name (and the cast right after it, for a choice element): the
    op, the context of what it returns, and how many steps it used."""
    element = _element(context, name)
    if element.choices is None:
        return name, element.context, 1
    suffixes = element.choices
    if cast is not None:
        wanted = cast.group(1)
        # Exactly the named type, as fhirpathpy does: R4 means ``(ConceptMap.source as uri)``
        # to exclude sourceCanonical, although canonical specializes uri.
        suffixes = tuple(s for s in suffixes if _fhir_type(s) == wanted)
        if not suffixes:
            raise NotCompilable(f"{context}.{name} is never a {wanted}")
    keys = tuple(name + suffix for suffix in suffixes)
    returned = _fhir_type(suffixes[0]) if len(suffixes) == 1 else None
    return (keys[0] if len(keys) == 1 else keys), returned, 2 if cast is not None else 1


def _filter_step(context: str, step: str, member: str) -> list[_Op]:
    cast = _CAST.fullmatch(step)
    if cast:
        # A cast of an element that is not a choice: it either always or never matches.
        if not _is_a(context, cast.group(1)):
            raise NotCompilable(f"{member!r}: {context} is never a {cast.group(1)}")
        return []
    resolve_is = _RESOLVE_IS.fullmatch(step)
    if resolve_is:
        return [partial(_keep_pointing_at, resolve_is.group(1))]
    equals = _WHERE_EQUALS.fullmatch(step)
    if equals:
        _element(context, equals.group(1))  # a typo in the name must not silently match nothing
        return [partial(_keep_equal, equals.group(1), equals.group(2))]
    raise NotCompilable(f"{member!r}: {step!r} is not compiled")


# --- the fhirpathpy fallback -----------------------------------------------------------------

_AS_OPERATOR = re.compile(r"\(([^()]+) as ([A-Za-z][A-Za-z0-9.]*)\)")
_AS_FUNCTION = re.compile(r"\.as\(")
_RESOLVE_IS_TEXT = re.compile(r"resolve\(\) is ([A-Za-z]+)")


def for_fhirpathpy(expression: str) -> str:
    """``expression`` rewritten so that fhirpathpy runs it as the compiled path would.

    fhirpathpy 2.2 raises on ``as`` over more than one value (R4's search expressions apply it
    to repeating elements, meaning "those of this type": ``ofType``), and has no ``resolve()``:
    ``resolve() is T`` becomes the test ``points_at`` makes (needs ``%resource`` in the context).
    """
    text = _AS_OPERATOR.sub(r"(\1).ofType(\2)", expression)
    text = _AS_FUNCTION.sub(".ofType(", text)
    text = _RESOLVE_IS_TEXT.sub(_points_at_text, text)
    if "resolve(" in text:
        raise NotCompilable(f"{expression!r}: resolve() other than 'resolve() is T'")
    return text


def _points_at_text(match: re.Match[str]) -> str:
    rtype = match.group(1)
    return (
        f"(reference.matches('{_reference_pattern(rtype)}')"
        f" or reference.startsWith('{rtype}?')"
        " or (reference.startsWith('#') and reference.substring(1) in"
        f" %resource.contained.ofType({rtype}).id))"
    )
