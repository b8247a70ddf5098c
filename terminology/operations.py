"""What every terminology operation shares: its declaration (an OperationDefinition: where it is
available, its parameters) and the reading and writing of ``Parameters`` driven by that
declaration.

Inputs arrive as GET query parameters (primitive types only, as FHIR allows) or as a POST
``Parameters`` body; both come out as the same ``Inputs``. Anything the declaration does not
allow (an unknown name, a second value of a single parameter, a value of the wrong type) is a 400.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fhir_server.errors import Invalid, Issue

JsonObject = dict[str, Any]

# FHIR type -> the value[x] keys accepted for it in a Parameters body. Clients differ on which
# string-like key they send (valueUri vs valueString for a uri), so those are interchangeable.
_STRINGISH = ("valueString", "valueCode", "valueUri", "valueUrl", "valueCanonical", "valueId")
_KEYS: dict[str, tuple[str, ...]] = {
    "string": _STRINGISH,
    "code": _STRINGISH,
    "uri": _STRINGISH,
    "canonical": _STRINGISH,
    "dateTime": ("valueDateTime", "valueDate", "valueString"),
    "boolean": ("valueBoolean",),
    "integer": ("valueInteger", "valueUnsignedInt", "valuePositiveInt"),
    "Coding": ("valueCoding",),
    "CodeableConcept": ("valueCodeableConcept",),
}
PRIMITIVES = frozenset({"string", "code", "uri", "canonical", "dateTime", "boolean", "integer"})
# Query parameters every FHIR interaction may carry; not operation inputs.
_GENERAL = frozenset({"_format", "_pretty", "_summary", "_elements"})
MAX_STRING = 4096


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type: str  # a FHIR type, "Resource", or "" for a part-only (tuple) parameter
    min: int = 0
    max: str = "1"
    doc: str = ""
    parts: tuple[Param, ...] = ()

    def to_json(self, use: str) -> JsonObject:
        out: JsonObject = {"name": self.name, "use": use, "min": self.min, "max": self.max}
        if self.doc:
            out["documentation"] = self.doc
        if self.type:
            out["type"] = self.type
        if self.parts:
            out["part"] = [p.to_json(use) for p in self.parts]
        return out


@dataclass(frozen=True, slots=True)
class OperationDefinition:
    """The declaration of one operation (``code``) on one resource type."""

    resource: str
    code: str
    description: str
    inputs: tuple[Param, ...]
    outputs: tuple[Param, ...]
    type_level: bool = True
    instance_level: bool = True
    # Our definitions follow the published ones; the CapabilityStatement points at those.
    url: str = ""
    _by_name: dict[str, Param] = field(default_factory=dict, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_name.update({p.name: p for p in self.inputs})

    @property
    def name(self) -> str:
        return f"{self.resource}/${self.code}"

    @property
    def canonical(self) -> str:
        return self.url or f"http://hl7.org/fhir/OperationDefinition/{self.resource}-{self.code}"

    def param(self, name: str) -> Param | None:
        return self._by_name.get(name)

    def resource_json(self) -> JsonObject:
        """This declaration as an OperationDefinition resource."""
        return {
            "resourceType": "OperationDefinition",
            "id": f"{self.resource}-{self.code}",
            "url": self.canonical,
            "name": f"{self.resource}{self.code.title().replace('-', '')}",
            "status": "active",
            "kind": "operation",
            "description": self.description,
            "affectsState": False,
            "code": self.code,
            "resource": [self.resource],
            "system": False,
            "type": self.type_level,
            "instance": self.instance_level,
            "parameter": [p.to_json("in") for p in self.inputs]
            + [p.to_json("out") for p in self.outputs],
        }


class Inputs:
    """The values of an operation's input parameters, checked against its declaration."""

    def __init__(self, definition: OperationDefinition, values: dict[str, list[Any]]) -> None:
        self.definition = definition
        self.values = values
        for param in definition.inputs:
            if len(values.get(param.name, ())) < param.min:
                raise Invalid(f"{definition.name}: the parameter {param.name!r} is required")

    def get(self, name: str) -> Any:
        found = self.values.get(name)
        return found[0] if found else None

    def all(self, name: str) -> list[Any]:
        return list(self.values.get(name, ()))

    def has(self, name: str) -> bool:
        return name in self.values

    def string(self, name: str) -> str | None:
        value = self.get(name)
        return value if isinstance(value, str) else None


def from_query(definition: OperationDefinition, items: Iterable[tuple[str, str]]) -> Inputs:
    values: dict[str, list[Any]] = {}
    for name, raw in items:
        if name in _GENERAL:
            continue
        param = _declared(definition, name)
        if param.type not in PRIMITIVES:
            raise Invalid(
                f"{definition.name}: {name!r} is a {param.type or 'complex'} parameter; "
                "send it in a POST Parameters body"
            )
        _add(definition, values, param, _primitive(definition, param, raw))
    return Inputs(definition, values)


def from_parameters(definition: OperationDefinition, body: Any) -> Inputs:
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise Invalid(f"{definition.name}: the body must be a Parameters resource")
    entries = body.get("parameter", [])
    if not isinstance(entries, list):
        raise Invalid(f"{definition.name}: Parameters.parameter must be a list")
    values: dict[str, list[Any]] = {}
    for index, entry in enumerate(entries):
        where = f"Parameters.parameter[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise _invalid(definition, "every parameter needs a name", where)
        param = _declared(definition, entry["name"])
        _add(definition, values, param, _entry_value(definition, param, entry, where))
    return Inputs(definition, values)


def parameters(outputs: list[tuple[str, JsonObject]]) -> JsonObject:
    """A Parameters resource from (name, {value[x] or part or resource}) pairs."""
    return {
        "resourceType": "Parameters",
        "parameter": [{"name": name, **value} for name, value in outputs],
    }


def _declared(definition: OperationDefinition, name: str) -> Param:
    param = definition.param(name)
    if param is None:
        known = ", ".join(p.name for p in definition.inputs)
        raise Invalid(f"{definition.name}: unknown parameter {name[:60]!r} (known: {known})")
    return param


def _add(
    definition: OperationDefinition, values: dict[str, list[Any]], param: Param, value: Any
) -> None:
    found = values.setdefault(param.name, [])
    if found and param.max == "1":
        raise Invalid(f"{definition.name}: the parameter {param.name!r} may appear only once")
    found.append(value)


def _primitive(definition: OperationDefinition, param: Param, raw: str) -> Any:
    if param.type == "boolean":
        if raw not in ("true", "false"):
            raise Invalid(f"{definition.name}: {param.name} must be true or false")
        return raw == "true"
    if param.type == "integer":
        if not raw.isdigit() or len(raw) > 9:
            raise Invalid(f"{definition.name}: {param.name} must be a whole number >= 0")
        return int(raw)
    if not raw or len(raw) > MAX_STRING:
        raise Invalid(f"{definition.name}: {param.name} must be a non-empty string")
    return raw


def _entry_value(
    definition: OperationDefinition, param: Param, entry: JsonObject, where: str
) -> Any:
    if param.type == "Resource":
        resource = entry.get("resource")
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise _invalid(definition, f"{param.name} must carry a resource", where)
        return resource
    keys = [k for k in entry if k.startswith("value")]
    accepted = _KEYS.get(param.type, ())
    if len(keys) != 1 or keys[0] not in accepted:
        expected = " or ".join(accepted) or "parts"
        raise _invalid(definition, f"{param.name} must have exactly one {expected}", where)
    value = entry[keys[0]]
    if param.type in ("Coding", "CodeableConcept"):
        if not isinstance(value, dict):
            raise _invalid(definition, f"{param.name} must be a {param.type}", where)
        return value
    if param.type == "boolean":
        if not isinstance(value, bool):
            raise _invalid(definition, f"{param.name} must be true or false", where)
        return value
    if param.type == "integer":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _invalid(definition, f"{param.name} must be a whole number >= 0", where)
        return value
    if not isinstance(value, str) or not value or len(value) > MAX_STRING:
        raise _invalid(definition, f"{param.name} must be a non-empty string", where)
    return value


def _invalid(definition: OperationDefinition, text: str, where: str) -> Invalid:
    message = f"{definition.name}: {text}"
    return Invalid(message, [Issue("invalid", message, expression=(where,))])


# -- small shared helpers of the operation modules ---------------------------------------------


def coding_parts(value: Any, what: str) -> tuple[str | None, str, str | None, str | None]:
    """(system, code, version, display) of a Coding given as an input."""
    if not isinstance(value, dict) or not isinstance(value.get("code"), str) or not value["code"]:
        raise Invalid(f"{what} must be a Coding with a code")
    system = value.get("system")
    if system is not None and not isinstance(system, str):
        raise Invalid(f"{what}.system must be a uri")
    version, display = value.get("version"), value.get("display")
    return (
        system,
        value["code"],
        version if isinstance(version, str) else None,
        display if isinstance(display, str) else None,
    )


def codings_of(value: Any, what: str) -> list[JsonObject]:
    """The codings of a CodeableConcept given as an input."""
    codings = value.get("coding") if isinstance(value, dict) else None
    if not isinstance(codings, list) or not codings:
        raise Invalid(f"{what} must be a CodeableConcept with at least one coding")
    return codings
