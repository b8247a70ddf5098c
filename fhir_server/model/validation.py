"""Structural validation of resources behind one narrow interface.

The default implementation uses fhir.resources' R4B pydantic models, which validate R4 4.0.1
resources (cardinality, datatypes, unknown elements, primitive formats). It does not check
required bindings, invariants or reference targets. The model is used to validate only: we never
re-serialize through it (slower, and lossy for decimals and instants).
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from fhir_server.errors import Invalid, Issue
from fhir_server.model.resource_types import supported_types


class Validator(Protocol):
    def validate(self, resource: dict[str, Any]) -> None:
        """Raise ``Invalid`` with one issue per problem found (each naming its element path)."""


class ModelValidator:
    """fhir.resources R4B models."""

    def __init__(self, max_issues: int = 50) -> None:
        self._max_issues = max_issues
        self._models: dict[str, Any] = {}

    def validate(self, resource: dict[str, Any]) -> None:
        rtype = resource.get("resourceType")
        if not isinstance(rtype, str) or rtype not in supported_types():
            raise Invalid(
                f"resourceType {str(rtype)[:64]!r} is not a resource type this server serves"
            )
        model = self._models.get(rtype)
        if model is None:
            model = self._models[rtype] = get_fhir_model_class(rtype)
        candidate = _without_extension_value_primitives(resource)
        try:
            model.model_validate(candidate)
        except ValidationError as exc:
            issues = [_issue(rtype, error) for error in exc.errors()[: self._max_issues]]
            raise Invalid(f"{rtype} failed validation: {issues[0].diagnostics}", issues) from None
        except (ValueError, TypeError) as exc:
            raise Invalid(f"{rtype} failed validation: {exc}") from None


def _issue(rtype: str, error: Any) -> Issue:
    path = rtype
    for part in error.get("loc", ()):
        if isinstance(part, int):
            path += f"[{part}]"
        elif part not in ("__root__",):
            path += f".{part}"
    message = str(error.get("msg", "invalid"))
    if error.get("type") == "extra_forbidden":
        message = "Unknown element"
    elif error.get("type") == "missing":
        message = "Required element is missing"
    return Issue(code="structure", diagnostics=f"{path}: {message}", expression=(path,))


def _without_extension_value_primitives(resource: dict[str, Any]) -> dict[str, Any]:
    """fhir.resources rejects ``_valueString``-style primitive extensions on Extension.value[x],
    which R4 allows. Validate those as plain Elements and drop them from the model's copy."""
    # A key "_value…" shows in the JSON as '"_value': cheaper to look for than to walk.
    return _strip(resource) if b'"_value' in orjson.dumps(resource, default=str) else resource


def _strip(node: Any) -> Any:
    if isinstance(node, dict):
        is_extension = isinstance(node.get("url"), str)
        out = {}
        for key, value in node.items():
            if is_extension and key.startswith("_value") and _is_element(value):
                continue
            out[key] = _strip(value)
        return out
    if isinstance(node, list):
        return [_strip(item) for item in node]
    return node


def _is_element(value: Any) -> bool:
    return isinstance(value, dict) and set(value) <= {"id", "extension"}
