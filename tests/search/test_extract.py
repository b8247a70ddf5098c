"""Search value extraction: compiled paths agree with fhirpathpy on every official example, and
give the hand-worked values on the cases that matter."""

from __future__ import annotations

import copy
import json
from collections import Counter
from decimal import Decimal
from functools import cache
from typing import Any

import pytest

from fhir_server.model.r4_package import r4_package_dir
from fhir_server.model.resource_types import supported_types
from fhir_server.search.extract import Extractor, coverage, extractor
from fhir_server.search.fhirpath_compile import (
    NotCompilable,
    compile_path,
    for_fhirpathpy,
    points_at,
    split_union,
)

JsonObject = dict[str, Any]
UCUM = "http://unitsofmeasure.org"


@cache
def example(name: str) -> JsonObject:
    resource: JsonObject = json.loads(
        (r4_package_dir() / f"{name}.json").read_bytes(), parse_float=Decimal
    )
    return resource


def fresh(name: str) -> JsonObject:
    return copy.deepcopy(example(name))


@cache
def fhirpathpy_only(rtype: str) -> Extractor:
    return Extractor(rtype, fast=False)


def both(rtype: str, resource: JsonObject) -> JsonObject:
    """Extract with compiled paths, check fhirpathpy agrees, return the result."""
    fast = extractor(rtype).extract(resource)
    assert normalized(fast) == normalized(fhirpathpy_only(rtype).extract(resource))
    return fast


def normalized(values: Any) -> str:
    # Decimals keep their digits and stay distinct from ints and floats: the two paths must
    # return the very same JSON values, not merely equal numbers.
    return json.dumps(values, sort_keys=True, default=lambda d: f"Decimal({d})")


# --- the two paths agree, on every official example --------------------------------------


def test_compiled_paths_equal_fhirpathpy_on_every_official_example() -> None:
    package = r4_package_dir()
    compared = Counter[str]()
    differences: list[str] = []
    for path in sorted(package.glob("*-*.json")):
        rtype = path.name.split("-", 1)[0]
        if rtype not in supported_types():
            continue
        resource = json.loads(path.read_bytes(), parse_float=Decimal)
        if not isinstance(resource, dict) or resource.get("resourceType") != rtype:
            continue
        untouched = copy.deepcopy(resource)
        fast_path = extractor(rtype)
        baseline = fhirpathpy_only(rtype)
        fast, slow = fast_path.extract(resource), baseline.extract(resource)
        for code in fast_path.fast_codes:
            if normalized(fast.get(code)) != normalized(slow.get(code)):
                differences.append(f"{path.name} {code}: {fast.get(code)} != {slow.get(code)}")
            elif code in fast:
                compared[rtype] += 1
        assert resource == untouched, f"{path.name} was modified"
    assert differences == []
    # Not vacuous: most types have examples, and they hold values for many parameters.
    assert len(compared) > 100
    assert sum(compared.values()) > 20_000
    assert compared["Observation"] > 700


def test_nearly_everything_takes_the_compiled_path() -> None:
    counts = coverage()
    assert counts["fast"] > 2300
    assert counts["fallback"] <= 5
    assert extractor("Patient").fallback_codes == {"deceased"}
    assert extractor("Observation").fallback_codes == frozenset()


# --- hand-worked cases -------------------------------------------------------------------


def test_observation_example() -> None:
    values = both("Observation", example("Observation-example"))
    assert values["code"][0]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "29463-7",
        "display": "Body Weight",
    }
    assert len(values["code"]) == 1  # one CodeableConcept, not its four codings
    assert values["subject"] == [{"reference": "Patient/example"}]
    assert values["patient"] == [{"reference": "Patient/example"}]
    assert values["encounter"] == [{"reference": "Encounter/example"}]
    assert values["value-quantity"] == [
        {"value": 185, "unit": "lbs", "system": UCUM, "code": "[lb_av]"}
    ]
    assert values["combo-value-quantity"] == values["value-quantity"]
    assert values["date"] == ["2016-03-28"]  # effectiveDateTime
    assert values["status"] == ["final"]
    assert values["_id"] == ["example"]
    assert "value-concept" not in values and "_lastUpdated" not in values


def test_values_are_the_resource_s_own_objects() -> None:
    resource = example("Observation-example")
    values = extractor("Observation").extract(resource)
    assert values["code"][0] is resource["code"]


def test_patient_example() -> None:
    patient = example("Patient-example")
    values = both("Patient", patient)
    assert values["name"] == patient["name"]
    assert [n.get("use") for n in values["name"]] == ["official", "usual", "maiden"]
    assert values["family"] == ["Chalmers", "Windsor"]
    assert values["given"] == ["Peter", "James", "Jim", "Peter", "James"]
    assert values["birthdate"] == ["1974-12-25"]
    assert values["gender"] == ["male"]
    assert [i["value"] for i in values["identifier"]] == ["12345"]
    assert values["identifier"][0]["system"] == "urn:oid:1.2.36.146.595.217.0.1"
    assert values["_id"] == ["example"]
    assert values["organization"] == [{"reference": "Organization/1"}]
    assert values["active"] == [True]
    # telecom.where(system='phone'): the home entry has no system
    assert [t["value"] for t in values["phone"]] == [
        "(03) 5555 6473",
        "(03) 3410 5613",
        "(03) 5555 8834",
    ]
    assert "email" not in values


def test_meta_parameters() -> None:
    resource = fresh("Patient-example")
    resource["meta"] = {
        "lastUpdated": "2024-05-01T10:00:00Z",
        "tag": [{"system": "http://example.org/tags", "code": "vip"}],
        "security": [{"code": "R"}],
        "profile": ["http://example.org/StructureDefinition/p"],
        "source": "http://example.org/source#1",
    }
    values = both("Patient", resource)
    assert values["_lastUpdated"] == ["2024-05-01T10:00:00Z"]
    assert values["_tag"] == [{"system": "http://example.org/tags", "code": "vip"}]
    assert values["_security"] == [{"code": "R"}]
    assert values["_profile"] == ["http://example.org/StructureDefinition/p"]
    assert values["_source"] == ["http://example.org/source#1"]


def test_composite_code_value_quantity() -> None:
    observation = example("Observation-example")
    values = both("Observation", observation)
    assert values["code-value-quantity"] == [
        {"code": [observation["code"]], "value-quantity": [observation["valueQuantity"]]}
    ]
    # The other code-value-x composites lack their value: no entry could ever match.
    assert "code-value-concept" not in values and "code-value-string" not in values


def test_composite_over_components() -> None:
    bp = example("Observation-blood-pressure")
    values = both("Observation", bp)
    pairs = [
        (entry["component-code"][0]["coding"][0]["code"], entry["component-value-quantity"][0])
        for entry in values["component-code-value-quantity"]
    ]
    assert pairs == [(c["code"]["coding"][0]["code"], c["valueQuantity"]) for c in bp["component"]]
    # combo: the Observation itself has no value, so only its components give entries
    assert len(values["combo-code-value-quantity"]) == len(bp["component"])


def test_composite_component_from_the_resource() -> None:
    values = both("MolecularSequence", example("MolecularSequence-breastcancer"))
    (entry,) = values["referenceseqid-variant-coordinate"]
    assert entry["referenceseqid"][0]["coding"][0]["code"] == "NM_000059.3"
    assert entry["variant-start"] == [32316186] and entry["variant-end"] == [32316187]


def test_resolve_is_patient_drops_a_group_subject() -> None:
    observation = fresh("Observation-example")
    observation["subject"] = {"reference": "Group/102"}
    values = both("Observation", observation)
    assert values["subject"] == [{"reference": "Group/102"}]
    assert "patient" not in values


@pytest.mark.parametrize(
    ("reference", "is_patient"),
    [
        ("Patient/123", True),
        ("Patient/123/_history/2", True),
        ("http://example.org/fhir/Patient/123", True),
        ("http://example.org/fhir/Patient/123/_history/2", True),
        ("Patient?identifier=http://hospital|77", True),
        ("#pat", True),
        ("#grp", False),
        ("#missing", False),
        ("Group/123", False),
        ("http://example.org/fhir/NotPatient/123", False),
        ("Patient/", False),
        ("urn:uuid:9d9b6e47-f4cb-4bb2-a7d1-57d4c67ee1a1", False),
    ],
)
def test_which_references_point_at_a_patient(reference: str, is_patient: bool) -> None:
    observation = fresh("Observation-example")
    observation["contained"] = [
        {"resourceType": "Patient", "id": "pat"},
        {"resourceType": "Group", "id": "grp", "type": "person", "actual": True},
    ]
    observation["subject"] = {"reference": reference}
    values = both("Observation", observation)
    assert ("patient" in values) is is_patient
    assert points_at(observation["subject"], "Patient", observation) is is_patient


def test_a_reference_without_reference_text_points_nowhere() -> None:
    observation = fresh("Observation-example")
    observation["subject"] = {"identifier": {"value": "1"}, "type": "Patient"}
    assert "patient" not in both("Observation", observation)


def test_choice_element_without_a_cast_takes_whichever_type_is_present() -> None:
    observation = fresh("Observation-example")
    del observation["effectiveDateTime"]
    observation["effectivePeriod"] = {"start": "2020-01-01", "end": "2020-01-02"}
    assert both("Observation", observation)["date"] == [observation["effectivePeriod"]]
    observation = fresh("Observation-example")
    del observation["valueQuantity"]
    observation["valueDateTime"] = "2021-03-04T05:06:07Z"
    values = both("Observation", observation)
    assert values["value-date"] == ["2021-03-04T05:06:07Z"]
    assert "value-quantity" not in values


def test_casts_keep_only_the_named_type() -> None:
    observation = fresh("Observation-example")
    del observation["valueQuantity"]
    observation["valueCodeableConcept"] = {"text": "Positive"}
    values = both("Observation", observation)
    assert values["value-concept"] == [{"text": "Positive"}]
    assert "value-quantity" not in values
    condition = {"resourceType": "Condition", "id": "c", "subject": {"reference": "Patient/1"}}
    condition["onsetAge"] = {"value": 52, "unit": "years", "system": UCUM, "code": "a"}
    values = both("Condition", condition)
    assert values["onset-age"] == [condition["onsetAge"]]
    assert "onset-date" not in values


def test_decimals_keep_their_digits_on_both_paths() -> None:
    observation = fresh("Observation-example")
    observation["valueQuantity"]["value"] = Decimal("72.50")
    (quantity,) = both("Observation", observation)["value-quantity"]
    assert str(quantity["value"]) == "72.50"
    values = fhirpathpy_only("Observation").extract(observation)
    assert str(values["value-quantity"][0]["value"]) == "72.50"


def test_nulls_and_extension_only_elements_are_not_values() -> None:
    ext = [
        {"url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-qualifier", "valueCode": "CL"}
    ]
    patient = {
        "resourceType": "Patient",
        "id": "p",
        "name": [{"family": "Doe", "given": ["Ann", None], "_given": [None, {"extension": ext}]}],
        "_birthDate": {"extension": [{"url": "http://example.org/x", "valueString": "?"}]},
        "maritalStatus": {"extension": [{"url": "http://example.org/y", "valueCode": "n"}]},
    }
    # Compiled paths only: fhirpathpy 2.2 returns ["Ann", None, None] for given here.
    values = extractor("Patient").extract(patient)
    assert values["given"] == ["Ann"]
    assert values["family"] == ["Doe"]
    assert "birthdate" not in values


def test_union_members_both_contribute() -> None:
    plan = {
        "resourceType": "InsurancePlan",
        "id": "i",
        "name": "Gold",
        "alias": ["Gold plus", "Gold"],
    }
    # FHIRPath's union drops the repeated "Gold"
    assert both("InsurancePlan", plan)["name"] == ["Gold", "Gold plus"]


def test_fallback_parameter_patient_deceased() -> None:
    base = {"resourceType": "Patient", "id": "p"}
    assert both("Patient", base)["deceased"] == [False]
    assert both("Patient", {**base, "deceasedBoolean": True})["deceased"] == [True]
    assert both("Patient", {**base, "deceasedDateTime": "2015-02-14"})["deceased"] == [True]


def test_every_served_type_extracts_something_from_a_minimal_resource() -> None:
    for rtype in sorted(supported_types()):
        assert extractor(rtype).extract({"resourceType": rtype, "id": "x1"})["_id"] == ["x1"]


# --- the compiler itself -----------------------------------------------------------------


def test_split_union_respects_parentheses_and_quotes() -> None:
    assert split_union("A.b | (A.c as T) | A.d.where(e = 'x|y')") == [
        "A.b",
        "(A.c as T)",
        "A.d.where(e = 'x|y')",
    ]


def test_expressions_beyond_the_subset_are_refused() -> None:
    for expression in (
        "Patient.deceased.exists() and Patient.deceased != false",
        "Bundle.entry[0].resource",
        "Patient.nonsense",
        "Observation.value.code",  # continues after a choice element without a cast
        "(Observation.value as Attachment)",  # never that type
        "Observation.subject.resolve().name",
    ):
        with pytest.raises(NotCompilable):
            compile_path(expression, expression.split(".")[0].strip("("))


def test_rewrites_for_fhirpathpy() -> None:
    assert for_fhirpathpy("(Observation.value as Quantity)") == (
        "(Observation.value).ofType(Quantity)"
    )
    assert for_fhirpathpy("Condition.onset.as(Age)") == "Condition.onset.ofType(Age)"
    rewritten = for_fhirpathpy("Observation.subject.where(resolve() is Patient)")
    assert "resolve" not in rewritten and "%resource.contained.ofType(Patient)" in rewritten
    with pytest.raises(NotCompilable):
        for_fhirpathpy("Observation.subject.resolve().name")
