"""``index_resource`` avoids repeated work (extraction skips walks that cannot find anything and
stops a composite element at its first empty component; each raw value is indexed once per
resource however many parameters and composite components find it): its output must be, value
for value and in the same order, what the straightforward path gives, where every parameter and
every composite component is evaluated and indexed afresh (``reference_extract`` and
``reference_index_entries`` below). Checked on Synthea-shaped resources, as plain JSON
and with Decimals (the exact copy the repository indexes), and on every R4 example of a served
type."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from functools import cache
from typing import Any

import orjson
import pytest

from fhir_server.bulk.synthetic import patient_bundle
from fhir_server.model.r4_package import r4_package_dir
from fhir_server.model.resource_types import supported_types
from fhir_server.search.definitions import SearchParam, search_params
from fhir_server.search.extract import Extractor, _Composite, extractor
from fhir_server.search.index_types import composite, date, quantity
from fhir_server.search.indexing import _MODULES, _component_types, index_resource
from terminology import ucum

JsonObject = dict[str, Any]


def reference_extract(extractor: Extractor, resource: JsonObject) -> dict[str, list[Any]]:
    """Every parameter evaluated, and every component of every composite element."""
    out: dict[str, list[Any]] = {}
    for code, evaluate, _ in extractor._evaluators:
        values = (
            unabridged_composite(evaluate, resource)
            if isinstance(evaluate, _Composite)
            else evaluate(resource, resource)
        )
        if values:
            out[code] = values
    return out


def unabridged_composite(evaluate: _Composite, resource: JsonObject) -> list[Any]:
    out: list[Any] = []
    for base, components in evaluate.members:
        for element in base(resource, resource):
            entry = {code: path(element, resource) for code, path in components}
            if all(entry.values()):
                out.append(entry)
    return out


def reference_index_entries(
    params: dict[str, SearchParam], extracted: dict[str, list[Any]]
) -> dict[str, Any]:
    """Every parameter (and every composite component) indexing its values afresh."""
    out: dict[str, Any] = {}
    for code, values in extracted.items():
        param = params.get(code)
        if param is None:
            continue
        if param.type == "composite":
            entries = composite.index_composite(values, _component_types(param))
        else:
            module = _MODULES.get(param.type)
            if module is None:
                continue
            entries = module.index(values)
            if param.type == "date":
                entries = date.with_marker(entries)
        if entries:
            out[code] = entries
    return out


def reference_index(resource: JsonObject) -> dict[str, Any]:
    rtype = resource["resourceType"]
    extracted = reference_extract(extractor(rtype), resource)
    return reference_index_entries(search_params(rtype), extracted)


def exact(value: Any) -> bytes:
    """Strict: key order kept, 1, 1.0 and true distinct, Decimals by their digits."""
    return orjson.dumps(value, default=lambda d: f"Decimal({d})" if isinstance(d, Decimal) else d)


def assert_same_index(resources: list[JsonObject]) -> int:
    """Every resource indexes the same both ways; returns how many (resource, parameter) pairs
    had entries."""
    pairs = 0
    for resource in resources:
        rtype = resource["resourceType"]
        expected = exact(reference_index(resource))
        assert exact(index_resource(rtype, resource)) == expected, resource.get("id")
        assert exact(extractor(rtype).extract(resource)) == exact(
            reference_extract(extractor(rtype), resource)
        ), resource.get("id")
        pairs += len(json.loads(expected))
    return pairs


@cache
def synthea_resources() -> list[JsonObject]:
    return [entry["resource"] for seed in (1, 2, 3) for entry in patient_bundle(seed, 300)["entry"]]


@cache
def r4_examples() -> list[JsonObject]:
    out = []
    for path in sorted(r4_package_dir().glob("*.json")):
        if path.name == "package.json" or path.name.startswith("."):
            continue
        resource = json.loads(path.read_bytes(), parse_float=Decimal)
        if isinstance(resource, dict) and resource.get("resourceType") in supported_types():
            out.append(resource)
    return out


def test_synthea_shaped_resources_index_the_same() -> None:
    resources = synthea_resources()
    assert len(resources) == 900
    assert assert_same_index(resources) > 5_000


def test_synthea_shaped_resources_with_decimals_index_the_same() -> None:
    # The repository indexes the exact-decimal copy when the body has decimals.
    resources = [
        json.loads(orjson.dumps(resource), parse_float=Decimal)
        for resource in synthea_resources()[:300]
    ]
    assert assert_same_index(resources) > 1_000


def test_r4_examples_index_the_same() -> None:
    resources = r4_examples()
    assert len(resources) > 1_000
    assert assert_same_index(resources) > 10_000


def first_observation(wanted: str, unwanted: str) -> JsonObject:
    return next(
        r
        for r in synthea_resources()
        if r["resourceType"] == "Observation" and wanted in r and unwanted not in r
    )


@pytest.mark.parametrize(
    ("code", "observation"),
    [
        ("code-value-quantity", first_observation("valueQuantity", "component")),
        ("combo-code-value-quantity", first_observation("valueQuantity", "component")),
        ("component-code-value-quantity", first_observation("component", "valueQuantity")),
    ],
)
def test_composites_reuse_entries_but_not_lists(code: str, observation: JsonObject) -> None:
    """The reuse shows only as shared entries: each parameter keeps lists of its own."""
    index = index_resource("Observation", observation)
    assert index[code] == reference_index(observation)[code]
    lists = [id(entries) for entries in index.values()]
    lists += [id(part) for entry in index[code] for part in entry.values()]
    assert len(lists) == len(set(lists))


@pytest.mark.parametrize(
    ("values", "code"),
    [
        ([37.0, 36.95, 37.05, -0.0, 0.0, -0.05, 0.05, 98.6, 98.55, 98.65], "Cel"),
        ([98.6, 98.55, 98.65, 0.0, -0.0, -40.0], "[degF]"),
        ([0.0, -0.0, 120.0, 119.5, 120.5, -3.25, 1e-9], "mm[Hg]"),
        ([5.4, 5.35, 5.45, -0.0, 0.0], "mg/dL"),
    ],
)
def test_remembered_ucum_conversions_are_the_conversions(values: list[float], code: str) -> None:
    """Twice over (the second time from the cache): bit for bit, signed zeros included."""
    for _ in range(2):
        for value in values:
            expected = ucum.canonical_value(value, code)
            found = quantity._canonical_value(value, code)
            assert found == expected
            assert math.copysign(1, found[0]) == math.copysign(1, expected[0])
            assert found[0].hex() == float(expected[0]).hex()
