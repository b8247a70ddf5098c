"""The search parameter definitions, held against the official R4 bundle they come from."""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from fhir_server.model.r4_package import r4_package_dir
from fhir_server.model.resource_types import supported_types
from fhir_server.search.definitions import (
    NOT_DOMAIN_RESOURCES,
    definitions,
    search_params,
    unsupported_params,
)

SP = "http://hl7.org/fhir/SearchParameter/"
RESOURCE_PARAMS = ("_id", "_lastUpdated", "_tag", "_profile", "_security", "_source")


@cache
def official() -> list[dict[str, Any]]:
    bundle = json.loads((r4_package_dir() / "Bundle-searchParams.json").read_bytes())
    return [entry["resource"] for entry in bundle["entry"]]


def served_types_of(sp: dict[str, Any]) -> set[str]:
    served: set[str] = set()
    for base in sp["base"]:
        if base == "Resource":
            served |= supported_types()
        elif base == "DomainResource":
            served |= supported_types() - NOT_DOMAIN_RESOURCES
        elif base in supported_types():
            served.add(base)
    return served


def test_every_official_parameter_is_served_or_unsupported_with_a_reason() -> None:
    unsupported = unsupported_params()
    missing = []
    for sp in official():
        for rtype in sorted(served_types_of(sp)):
            param = search_params(rtype).get(sp["code"])
            served = param is not None and param.url == sp["url"]
            listed = sp["url"] in unsupported or f"{rtype}.{sp['code']}" in unsupported
            if served == listed:  # neither, or both
                missing.append(f"{rtype}.{sp['code']} served={served} listed={listed}")
    assert missing == []
    assert all(reason.strip() for reason in unsupported.values())


def test_nothing_is_served_or_listed_that_the_bundle_does_not_define() -> None:
    by_url = {sp["url"]: sp for sp in official()}
    for rtype in supported_types():
        for code, param in search_params(rtype).items():
            sp = by_url[param.url]
            assert code == sp["code"] and param.type == sp["type"]
            assert rtype in served_types_of(sp)
    for key in unsupported_params():
        if key.startswith("http"):
            assert key in by_url
        else:
            rtype, code = key.split(".")
            assert any(sp["code"] == code and rtype in served_types_of(sp) for sp in official())


def test_the_unsupported_ones_are_the_expected_few() -> None:
    assert set(unsupported_params()) == {
        SP + "DomainResource-text",
        SP + "Resource-content",
        SP + "Resource-query",
        SP + "Location-near",
        SP + "Bundle-composition",
        SP + "Bundle-message",
    }
    assert "_text" not in search_params("Patient")


def test_the_shipped_data_is_what_the_generator_makes_now() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    try:
        import generate_search_definitions as generator
    finally:
        sys.path.pop(0)
    assert list(definitions()) == generator.generate(r4_package_dir())


def test_resource_level_parameters_apply_to_every_type_rewritten_for_it() -> None:
    for rtype in supported_types():
        params = search_params(rtype)
        assert set(RESOURCE_PARAMS) <= set(params), rtype
    patient = search_params("Patient")
    assert patient["_id"].expression == "Patient.id"
    assert patient["_lastUpdated"].expression == "Patient.meta.lastUpdated"
    assert patient["_tag"].type == "token"
    assert search_params("Bundle")["_profile"].expression == "Bundle.meta.profile"


def test_a_shared_definition_keeps_only_the_part_for_the_type() -> None:
    observation = search_params("Observation")["patient"]
    assert observation.url == SP + "clinical-patient"
    assert observation.expression == "Observation.subject.where(resolve() is Patient)"
    assert observation.targets == ("Patient", "Group")
    allergy = search_params("AllergyIntolerance")["patient"]
    assert allergy.expression == "AllergyIntolerance.patient"
    code = search_params("Condition")["code"]
    assert code.expression == "Condition.code"
    request = search_params("MedicationRequest")
    assert request["medication"].expression == "(MedicationRequest.medication as Reference)"
    assert request["code"].expression == "(MedicationRequest.medication as CodeableConcept)"


def test_comparators_and_types_come_through() -> None:
    date = search_params("Observation")["date"]
    assert date.type == "date"
    assert {"eq", "gt", "le", "sa", "eb", "ap"} <= set(date.comparators)
    assert search_params("Observation")["code"].comparators == ()


@pytest.mark.parametrize("rtype", sorted(supported_types()))
def test_composite_components_resolve_to_parameters_of_the_type(rtype: str) -> None:
    params = search_params(rtype)
    for param in params.values():
        assert bool(param.components) == (param.type == "composite"), param.code
        for code, kind, expression in param.components:
            assert code in params, f"{rtype}.{param.code}: component {code}"
            assert params[code].type == kind
            assert kind != "composite" and expression


def test_observation_composites() -> None:
    params = search_params("Observation")
    assert params["code-value-quantity"].expression == "Observation"
    assert params["code-value-quantity"].components == (
        ("code", "token", "code"),
        ("value-quantity", "quantity", "value.as(Quantity)"),
    )
    assert params["combo-code-value-concept"].expression == "Observation | Observation.component"
    # corrected: the published component was value.as(DateTime), which matches nothing
    assert params["code-value-date"].components[1] == (
        "value-date",
        "date",
        "value.as(dateTime) | value.as(Period)",
    )


def test_corrected_definitions() -> None:
    assert search_params("DocumentReference")["relationship"].components == (
        ("relatesto", "reference", "target"),
        ("relation", "token", "code"),
    )
    assert search_params("InsurancePlan")["name"].expression == (
        "InsurancePlan.name | InsurancePlan.alias"
    )


def test_unknown_type() -> None:
    with pytest.raises(KeyError):
        search_params("Nonsense")
