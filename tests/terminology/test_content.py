"""The bundled content: well-formed, licensed, consistent with itself, and what the issue asks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from terminology import ucum
from terminology.content import CONTENT_DIR, TERMINOLOGY_TYPES, bundled_content
from terminology.lab_catalogue import default_catalogue
from terminology.service import TerminologyService
from tests.terminology.support import CATEGORY_CS, LOINC

FILES = sorted(p for p in CONTENT_DIR.rglob("*.json") if p.name != "required-bindings.json")
REQUIRED = [
    "http://hl7.org/fhir/ValueSet/administrative-gender",
    "http://hl7.org/fhir/ValueSet/observation-status",
    "http://hl7.org/fhir/ValueSet/observation-category",
    "http://hl7.org/fhir/ValueSet/observation-interpretation",
    "http://hl7.org/fhir/ValueSet/document-reference-status",
    "http://hl7.org/fhir/ValueSet/composition-status",
    "http://hl7.org/fhir/ValueSet/diagnostic-report-status",
    "http://hl7.org/fhir/ValueSet/encounter-status",
    "http://hl7.org/fhir/ValueSet/event-status",  # Communication.status
    "http://hl7.org/fhir/ValueSet/request-status",
    "http://hl7.org/fhir/ValueSet/task-status",
    "http://terminology.hl7.org/ValueSet/v2-0001",
    "http://terminology.hl7.org/ValueSet/v2-0078",
    "http://terminology.hl7.org/ValueSet/v2-0085",
    "http://terminology.hl7.org/ValueSet/v2-0203",
]


def load(path: Path) -> dict[str, Any]:
    resource: dict[str, Any] = orjson.loads(path.read_bytes())
    return resource


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(CONTENT_DIR)))
def test_every_file_is_a_terminology_resource_with_its_source(path: Path) -> None:
    resource = load(path)
    assert resource["resourceType"] in TERMINOLOGY_TYPES
    assert resource["url"] and resource["id"] and resource["status"]
    assert path.name == f"{resource['resourceType']}-{resource['id']}.json"
    # Source and licence: the folder's README names them; our own and LOINC content says it too.
    if path.parent.name in ("medrec", "loinc", "us-core"):
        assert resource.get("copyright"), f"{path.name} has no copyright"
    if path.parent.name == "loinc":
        assert "Regenstrief" in resource["copyright"]


def test_the_readme_names_every_folder() -> None:
    readme = (CONTENT_DIR / "README.md").read_text()
    for folder in sorted({p.parent.name for p in FILES}):
        assert f"`{folder}/`" in readme, folder
    assert "CC0" in readme and "LOINC" in readme and "http://loinc.org/license" in readme


@pytest.mark.parametrize("url", REQUIRED)
def test_required_value_sets_are_bundled_and_expand(service: TerminologyService, url: str) -> None:
    assert len(service.value_set_codes(url)) > 1


def test_every_bundled_value_set_expands(service: TerminologyService) -> None:
    for vs in bundled_content().resources("ValueSet"):
        assert service.members(vs), vs["url"]


def test_concept_map_targets_exist(service: TerminologyService) -> None:
    for cm in bundled_content().resources("ConceptMap"):
        for group in cm["group"]:
            target = service.code_system(group["target"])
            source = service.code_system(group["source"])
            for element in group["element"]:
                assert source.get(element["code"]) is not None, element["code"]
                for t in element["target"]:
                    if "code" in t:
                        assert target.get(t["code"]) is not None, (group["target"], t["code"])


def test_every_record_category_has_a_document_type(service: TerminologyService) -> None:
    for concept in service.code_system(CATEGORY_CS):
        translation = service.translate(CATEGORY_CS, concept.code, target_system=LOINC)
        assert translation.result, concept.code


def _loinc_check_digit(code: str) -> bool:
    number, check = code.split("-")
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            digit = digit // 10 + digit % 10
        total += digit
    return (10 - total % 10) % 10 == int(check)


def test_loinc_subset() -> None:
    tests = default_catalogue()
    assert len(tests) >= 150
    panels = {t.panel for t in tests}
    assert {
        "cbc",
        "bmp",
        "cmp",
        "lipid",
        "liver",
        "thyroid",
        "diabetes",
        "coagulation",
        "iron",
        "urinalysis",
    } <= panels
    codes = [t.code for t in tests]
    assert len(codes) == len(set(codes))
    for test in tests:
        assert _loinc_check_digit(test.code), test.code
        for unit in test.units:
            assert ucum.is_valid(unit), (test.code, unit)
        if test.low is not None:
            assert test.high is not None and test.low < test.high, test.code
            assert test.units, test.code
    named = [t for t in tests if t.names or t.abbreviations]
    assert len(named) >= 100


def test_required_bindings_point_at_bundled_value_sets(service: TerminologyService) -> None:
    raw = orjson.loads((CONTENT_DIR / "required-bindings.json").read_bytes())
    assert {"Patient", "Observation", "DocumentReference", "DiagnosticReport"} <= set(
        raw["bindings"]
    )
    for rules in raw["bindings"].values():
        for rule in rules:
            assert service.value_set_codes(rule["valueSet"]), rule
