"""Patient compartments: which patients a resource belongs to (from the R4 CompartmentDefinition).

Stored with every resource so that authorization and `$everything` find a patient's data through
one index instead of by resolving references at read time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from typing import Any

from fhir_server.model.references import parse_reference
from fhir_server.model.resource_types import DATA


@cache
def _paths() -> dict[str, tuple[tuple[str, ...], ...]]:
    raw: dict[str, list[str]] = json.loads((DATA / "patient_compartment.json").read_bytes())
    return {rtype: tuple(tuple(p.split(".")) for p in paths) for rtype, paths in raw.items()}


def compartment_types() -> list[str]:
    """The types a Patient compartment can hold: Patient first, then the others by name."""
    return ["Patient", *sorted(rtype for rtype in _paths() if rtype != "Patient")]


def patient_compartments(resource: dict[str, Any]) -> list[str]:
    """Ids of the patients whose compartment holds this resource (sorted, unique)."""
    rtype = resource.get("resourceType", "")
    found: set[str] = set()
    if rtype == "Patient" and isinstance(resource.get("id"), str):
        found.add(resource["id"])
    for path in _paths().get(rtype, ()):
        for value in _follow(resource, path):
            if isinstance(value, dict) and isinstance(value.get("reference"), str):
                target = parse_reference(value["reference"])
                if target is not None and target[0] == "Patient":
                    found.add(target[1])
    return sorted(found)


def _follow(node: Any, path: tuple[str, ...]) -> Iterator[Any]:
    if not path:
        yield node
        return
    if isinstance(node, list):
        for item in node:
            yield from _follow(item, path)
    elif isinstance(node, dict) and path[0] in node:
        child = node[path[0]]
        for item in child if isinstance(child, list) else (child,):
            yield from _follow(item, path[1:])
