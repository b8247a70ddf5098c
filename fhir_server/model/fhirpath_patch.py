"""FHIRPath Patch (http://hl7.org/fhir/R4/fhirpatch.html): apply a Parameters patch to a resource.

Paths are evaluated by a deliberately small FHIRPath navigator: ``Type``, ``.element`` steps,
``[n]``, ``.first()``, ``.last()`` and ``.where(sub.path = literal)`` (``$this`` allowed). It
returns *locations* (owning object, element name, list index) so operations can edit the tree.

Whether an element repeats cannot be read from JSON when it is absent (adding the first
``Patient.contact`` must create a list), so cardinality and element types come from the
fhir.resources R4B models the validator already uses; without them the JSON shape decides.
"""

from __future__ import annotations

import copy
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

from fhir_server.errors import Invalid, Unprocessable

JsonObject = dict[str, Any]
_Literal = str | Decimal | bool

_PART_NAMES = frozenset({"type", "path", "name", "value", "index", "source", "destination"})
_REQUIRED = {
    "add": ("name", "value"),
    "insert": ("index", "value"),
    "delete": (),
    "replace": ("value",),
    "move": ("source", "destination"),
}
_NAME = r"[A-Za-z][A-Za-z0-9_]*"
_ELEMENT = re.compile(_NAME)
_HEAD = re.compile(rf"(%resource|{_NAME})(?![A-Za-z0-9_(])")
# One step after the head. Order matters: functions before plain element names.
_STEP = re.compile(
    rf"""\s*(?:
      \.(?P<function>first|last)\(\s*\)
    | \[\s*(?P<index>\d+)\s*\]
    | \.where\(\s*(?P<subpath>\$this|{_NAME}(?:\.{_NAME})*)\s*=\s*
        (?P<literal>'(?:[^'\\]|\\.)*'|\d+(?:\.\d+)?|true|false)\s*\)
    | \.(?P<child>{_NAME})(?![A-Za-z0-9_(])
    )\s*""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Context:
    """Which operation is running, so every error names its number and path."""

    number: int
    kind: str = ""
    path: str = ""

    def _label(self) -> str:
        detail = f" ({self.kind} at {self.path!r})" if self.path else ""
        return f"FHIRPath Patch operation {self.number}{detail}"

    def invalid(self, message: str) -> Invalid:
        return Invalid(f"{self._label()}: {message}")

    def unprocessable(self, message: str) -> Unprocessable:
        return Unprocessable(f"{self._label()}: {message}")


@dataclass(frozen=True)
class _Step:
    kind: str  # "child" | "index" | "first" | "last" | "where"
    name: str = ""
    index: int = 0
    subpath: tuple[str, ...] = ()
    literal: _Literal = ""


@dataclass
class _Node:
    """A matched value and where it lives: ``owner[name]`` or ``owner[name][index]``."""

    value: Any
    type: str | None  # FHIR type name, for cardinality look-ups; None when unknown
    owner: JsonObject | None = None  # None only for the resource itself
    name: str = ""
    index: int | None = None


def apply_fhirpath_patch(resource: JsonObject, parameters: JsonObject) -> JsonObject:
    """Return a patched deep copy of ``resource``; the input is left untouched on any error."""
    if not isinstance(parameters, dict) or parameters.get("resourceType") != "Parameters":
        raise Invalid("A FHIRPath Patch body must be a Parameters resource.")
    operations = parameters.get("parameter") or []
    if not isinstance(operations, list):
        raise Invalid("Parameters.parameter must be a list of operations.")
    # Check every operation before applying any, so a malformed request is always a 400.
    checked = [_checked(number, operation) for number, operation in enumerate(operations, 1)]
    patched = copy.deepcopy(resource)
    root = _Node(patched, str(patched.get("resourceType", "")) or None)
    for context, parts in checked:
        _OPERATIONS[context.kind](root, context, parts)
    return patched


# --- Reading the Parameters -------------------------------------------------------------------


def _checked(number: int, operation: Any) -> tuple[_Context, dict[str, JsonObject]]:
    parts = _parts(_Context(number), operation)
    kind = _text(_Context(number), parts, "type")
    context = _Context(number, kind, _text(_Context(number, kind), parts, "path"))
    if kind not in _OPERATIONS:
        raise context.invalid(f"unknown operation type {kind!r}")
    _parse(context)
    for name in _REQUIRED[kind]:
        if name == "name":
            _text(context, parts, name)
        elif name == "value":
            _value(context, parts, None)
        else:
            _index(context, parts, name)
    return context, parts


def _parts(context: _Context, operation: Any) -> dict[str, JsonObject]:
    if not isinstance(operation, dict) or operation.get("name") != "operation":
        raise context.invalid("each parameter must be named 'operation'")
    parts: dict[str, JsonObject] = {}
    for part in operation.get("part") or []:
        name = part.get("name") if isinstance(part, dict) else None
        if name not in _PART_NAMES:
            raise context.invalid(f"unexpected part {name!r}")
        if name in parts:
            raise context.invalid(f"more than one {name!r} part")
        parts[name] = part
    return parts


def _scalar(context: _Context, parts: dict[str, JsonObject], name: str) -> Any:
    part = parts.get(name)
    keys = [key for key in part or {} if key.startswith("value")]
    if part is None or len(keys) != 1:
        raise context.invalid(f"needs exactly one value in the {name!r} part")
    return part[keys[0]]


def _text(context: _Context, parts: dict[str, JsonObject], name: str) -> str:
    value = _scalar(context, parts, name)
    if not isinstance(value, str) or not value.strip():
        raise context.invalid(f"the {name!r} part must be a non-empty string")
    return value


def _index(context: _Context, parts: dict[str, JsonObject], name: str) -> int:
    value = _scalar(context, parts, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise context.invalid(f"the {name!r} part must be a non-negative integer")
    return value


def _value(context: _Context, parts: dict[str, JsonObject], type_name: str | None) -> Any:
    if "value" not in parts:
        raise context.invalid("needs a 'value' part")
    return _part_value(context, parts["value"], type_name)


def _part_value(context: _Context, part: JsonObject, type_name: str | None) -> Any:
    """A part's ``value[x]`` (or ``resource``), else an object built from its nested parts."""
    keys = [key for key in part if key.startswith("value") or key == "resource"]
    if len(keys) > 1:
        raise context.invalid(f"part {part.get('name')!r} has several values: {keys}")
    if keys:
        return copy.deepcopy(part[keys[0]])
    children = part.get("part")
    if not isinstance(children, list) or not children:
        raise context.invalid(f"part {part.get('name')!r} has neither a value[x] nor parts")
    built: JsonObject = {}
    for child in children:
        name = child.get("name") if isinstance(child, dict) else None
        if not isinstance(name, str) or not _ELEMENT.fullmatch(name):
            raise context.invalid(f"nested part name {name!r} is not an element name")
        child_type, repeats = _field_info(type_name, name)
        value = _part_value(context, child, child_type)
        if name in built:  # a repeated name is a list whatever the model says
            previous = built[name]
            built[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            built[name] = [value] if repeats else value
    return built


# --- Paths --------------------------------------------------------------------------------------


def _parse(context: _Context) -> tuple[str, list[_Step]]:
    """Parse the supported subset into (head, steps); anything else is rejected by name."""
    path = context.path.strip()
    head = _HEAD.match(path)
    if head is None:
        raise context.invalid(f"unsupported path start {path!r}")
    steps: list[_Step] = []
    position = head.end()
    while position < len(path):
        match = _STEP.match(path, position)
        if match is None:
            raise context.invalid(f"unsupported FHIRPath expression {path[position:]!r}")
        steps.append(_step(match))
        position = match.end()
    return head[1], steps


def _steps(root: _Node, context: _Context) -> list[_Step]:
    """Steps from the resource itself: the head must be its type (or ``%resource``)."""
    head, steps = _parse(context)
    if head in (root.type, "%resource"):
        return steps
    if head[0].isupper():
        raise context.unprocessable(f"the path starts at {head}, not at {root.type}")
    return [_Step("child", head), *steps]  # FHIRPath reads a bare element name off the resource


def _step(match: re.Match[str]) -> _Step:
    if match["child"]:
        return _Step("child", match["child"])
    if match["index"]:
        return _Step("index", index=int(match["index"]))
    if match["function"]:
        return _Step(match["function"])
    text, subpath = match["literal"], match["subpath"]
    literal: _Literal = Decimal(text) if text[0].isdigit() else text == "true"
    if text.startswith("'"):
        literal = re.sub(r"\\(.)", r"\1", text[1:-1])  # FHIRPath escapes: \' and \\
    return _Step(
        "where", subpath=() if subpath == "$this" else tuple(subpath.split(".")), literal=literal
    )


def _evaluate(root: _Node, steps: list[_Step]) -> list[_Node]:
    nodes = [root]
    for step in steps:
        if step.kind == "child":
            nodes = [child for node in nodes for child in _children(node, step.name)]
        elif step.kind == "index":
            nodes = nodes[step.index : step.index + 1]
        elif step.kind in ("first", "last"):
            nodes = nodes[:1] if step.kind == "first" else nodes[-1:]
        else:
            nodes = [node for node in nodes if _matches(node, step)]
    return nodes


def _children(node: _Node, name: str) -> list[_Node]:
    """A step into a list element yields every item (FHIRPath flattens collections)."""
    if not isinstance(node.value, dict) or node.value.get(name) is None:
        return []
    value, child_type = node.value[name], _field_info(node.type, name)[0]
    if not isinstance(value, list):
        return [_Node(value, child_type, node.value, name)]
    return [
        _Node(item, _item_type(item, child_type), node.value, name, index)
        for index, item in enumerate(value)
        if item is not None  # null placeholders align primitive arrays with their `_name` twin
    ]


def _item_type(item: Any, declared: str | None) -> str | None:
    resource_type = item.get("resourceType") if isinstance(item, dict) else None
    return resource_type if isinstance(resource_type, str) else declared


def _matches(node: _Node, step: _Step) -> bool:
    """FHIRPath ``=``: the left side must be a single item equal to the literal."""
    found = [node]
    for name in step.subpath:
        found = [child for item in found for child in _children(item, name)]
    if len(found) != 1:
        return False
    value, literal = found[0].value, step.literal
    if isinstance(literal, bool) or isinstance(value, bool):
        return value is literal
    if isinstance(literal, Decimal):
        return isinstance(value, int | float | Decimal) and Decimal(str(value)) == literal
    return bool(value == literal)


@cache
def _field_info(type_name: str | None, element: str) -> tuple[str | None, bool]:
    """(element's type, whether it repeats) per the R4B models; (None, False) when unknown."""
    if type_name is None:
        return None, False
    try:
        from fhir.resources.R4B import get_fhir_model_class

        model: Any = get_fhir_model_class(type_name)
    except (ImportError, ValueError, KeyError):
        return None, False
    for key, field in model.model_fields.items():
        if (field.alias or key) == element:
            return _annotation_info(field.annotation)
    return None, False


def _annotation_info(annotation: Any) -> tuple[str | None, bool]:
    repeats = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is list:
            repeats, annotation = True, typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        else:
            break
    name = getattr(annotation, "__name__", "") if isinstance(annotation, type) else ""
    return (name.removesuffix("Type") if name.endswith("Type") else None), repeats


# --- Operations ---------------------------------------------------------------------------------


def _resolve(root: _Node, context: _Context) -> list[_Node]:
    return _evaluate(root, _steps(root, context))


def _single(root: _Node, context: _Context) -> _Node:
    nodes = _resolve(root, context)
    if len(nodes) != 1:
        raise context.unprocessable(f"the path must match exactly one element, not {len(nodes)}")
    return nodes[0]


def _shadow(owner: JsonObject, name: str) -> list[Any] | None:
    """The ``_name`` array holding ids/extensions of a primitive list; kept index-aligned."""
    shadow = owner.get("_" + name)
    return shadow if isinstance(shadow, list) else None


def _add(root: _Node, context: _Context, parts: dict[str, JsonObject]) -> None:
    target, name = _single(root, context), _text(context, parts, "name")
    if not _ELEMENT.fullmatch(name):
        raise context.invalid(f"{name!r} is not an element name")
    if not isinstance(target.value, dict):
        raise context.unprocessable("the path does not point at an element that can hold children")
    child_type, repeats = _field_info(target.type, name)
    value, existing = _value(context, parts, child_type), target.value.get(name)
    if isinstance(existing, list):
        existing.append(value)
        if (shadow := _shadow(target.value, name)) is not None:
            shadow.append(None)
    elif existing is not None:
        raise context.unprocessable(f"{name} already has a value (use replace to change it)")
    else:
        target.value[name] = [value] if repeats else value


def _collection(root: _Node, context: _Context) -> tuple[JsonObject, str, str | None, bool]:
    """insert/move name a list: resolve its owner (so an absent list can be created)."""
    steps = _steps(root, context)
    if not steps or steps[-1].kind != "child":
        raise context.invalid("the path must end in the name of a list element")
    owners = _evaluate(root, steps[:-1])
    if len(owners) != 1 or not isinstance(owners[0].value, dict):
        raise context.unprocessable(f"the path must match one list, not {len(owners)} parents")
    name = steps[-1].name
    child_type, repeats = _field_info(owners[0].type, name)
    existing = owners[0].value.get(name)
    if existing is None and not repeats:
        raise context.unprocessable(f"{name} is absent and not known to be a list")
    if existing is not None and not isinstance(existing, list):
        raise context.unprocessable(f"{name} is not a list")
    return owners[0].value, name, child_type, repeats


def _insert(root: _Node, context: _Context, parts: dict[str, JsonObject]) -> None:
    index = _index(context, parts, "index")
    owner, name, child_type, _ = _collection(root, context)
    items = owner.get(name) or []
    if index > len(items):
        raise context.unprocessable(f"index {index} is beyond the {len(items)} items of {name}")
    owner[name] = items
    items.insert(index, _value(context, parts, child_type))
    if (shadow := _shadow(owner, name)) is not None:
        shadow.insert(index, None)


def _move(root: _Node, context: _Context, parts: dict[str, JsonObject]) -> None:
    source, destination = _index(context, parts, "source"), _index(context, parts, "destination")
    owner, name, _, _ = _collection(root, context)
    items = owner.get(name) or []
    if max(source, destination) >= len(items):
        raise context.unprocessable(f"source/destination out of range for {len(items)} items")
    for array in (items, _shadow(owner, name)):
        if array is not None and len(array) == len(items):
            array.insert(destination, array.pop(source))


def _delete(root: _Node, context: _Context, parts: dict[str, JsonObject]) -> None:
    """Deleting what is not there is not an error (the spec: "delete ... if found")."""
    nodes = _resolve(root, context)
    if len(nodes) > 1:
        raise context.unprocessable(f"only a single element can be deleted; matched {len(nodes)}")
    if not nodes:
        return
    node = nodes[0]
    if node.owner is None:
        raise context.unprocessable("the resource itself cannot be deleted by a patch")
    owner, name, shadow = node.owner, node.name, _shadow(node.owner, node.name)
    if node.index is None:
        del owner[name]
        owner.pop("_" + name, None)
        return
    items = owner[name]
    items.pop(node.index)
    if shadow is not None and node.index < len(shadow):
        shadow.pop(node.index)
    if not items:  # FHIR JSON forbids empty arrays
        del owner[name]
    if shadow is not None and (not items or all(item is None for item in shadow)):
        del owner["_" + name]


def _replace(root: _Node, context: _Context, parts: dict[str, JsonObject]) -> None:
    node = _single(root, context)
    if node.owner is None:
        raise context.unprocessable("the resource itself cannot be replaced by a patch")
    value = _value(context, parts, node.type)
    if node.index is None:
        node.owner[node.name] = value
    else:
        node.owner[node.name][node.index] = value


_OPERATIONS: dict[str, Callable[[_Node, _Context, dict[str, JsonObject]], None]] = {
    "add": _add,
    "insert": _insert,
    "delete": _delete,
    "replace": _replace,
    "move": _move,
}
