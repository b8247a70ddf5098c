"""The service as a Python API: what the search engine, binding checks and pipelines call."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_server.errors import NotFound
from terminology.content import LayeredContent, MemoryContent, bundled_content
from terminology.service import TerminologyService
from tests.terminology.support import (
    CATEGORY_CS,
    COLOUR_CS,
    GENDER_CS,
    GENDER_VS,
    INTERPRETATION_CS,
    INTERPRETATION_VS,
    LOINC,
    MEDREC,
)

COLOUR_MAP = f"{MEDREC}/ConceptMap/colour-to-record-category"


def test_validate_code(service: TerminologyService) -> None:
    assert service.validate_code(GENDER_VS, GENDER_CS, "female").result
    # a primitive code element: no system, the value set's is implied
    assert service.validate_code(GENDER_VS, None, "female").result
    bad = service.validate_code(GENDER_VS, None, "mail")
    assert not bad.result and not bad.inconclusive
    not_listed = service.validate_code(f"{MEDREC}/ValueSet/lab-tests", LOINC, "12345-6")
    assert not not_listed.result and not not_listed.inconclusive
    all_of_loinc = {
        "resourceType": "ValueSet",
        "id": "x",
        "url": "http://example.org/loinc",
        "compose": {"include": [{"system": LOINC}]},
    }
    layered = TerminologyService(LayeredContent(MemoryContent([all_of_loinc]), bundled_content()))
    fragment = layered.validate_code("http://example.org/loinc", LOINC, "12345-6")
    assert not fragment.result and fragment.inconclusive
    with pytest.raises(NotFound):
        service.validate_code("http://example.org/vs", None, "x")


def test_in_value_set_and_codes(service: TerminologyService) -> None:
    assert service.in_value_set(GENDER_VS, GENDER_CS, "male")
    assert not service.in_value_set(GENDER_VS, "http://example.org", "male")
    codes = service.value_set_codes(INTERPRETATION_VS)
    assert (INTERPRETATION_CS, "HH") in codes
    assert len(codes) == len(service.code_system(INTERPRETATION_CS))
    assert service.value_set_codes(INTERPRETATION_VS) is codes  # cached


def test_hierarchy_helpers(service: TerminologyService) -> None:
    assert service.descendants(INTERPRETATION_CS, "H") == {"HH", "H>", "HU"}
    # a polyhierarchy: HH sits under AA, H> and HU, which sit under A and H
    assert service.ancestors(INTERPRETATION_CS, "HH") == {
        "AA",
        "H>",
        "HU",
        "H",
        "A",
        "_ObservationInterpretationNormality",
    }
    assert service.descendants(INTERPRETATION_CS, "N") == frozenset()
    assert service.descendants(INTERPRETATION_CS, "no-such-code") == frozenset()
    with pytest.raises(NotFound):
        service.descendants("http://example.org/cs", "x")


def test_lookup_expand_translate_subsumes(service: TerminologyService) -> None:
    assert service.lookup(LOINC, "718-7").display == "Hemoglobin [Mass/volume] in Blood"
    expansion = service.expand(f"{MEDREC}/ValueSet/lab-lipid", "ldl")
    assert {m.code for m in expansion.members} >= {"13457-7", "2089-1", "22748-8"}
    assert expansion.total == len(expansion.members)
    translation = service.translate(COLOUR_CS, "green", url=COLOUR_MAP)
    first = translation.first()
    assert first is not None and (first.system, first.code) == (CATEGORY_CS, "lab-results")
    assert service.subsumes(INTERPRETATION_CS, "A", "H") == "subsumes"


def _site_colour_map(colour: str, category: str) -> dict[str, Any]:
    return {
        "resourceType": "ConceptMap",
        "id": "site-colours",
        "url": COLOUR_MAP,
        "status": "active",
        "group": [
            {
                "source": COLOUR_CS,
                "target": CATEGORY_CS,
                "element": [
                    {"code": colour, "target": [{"code": category, "equivalence": "equivalent"}]}
                ],
            }
        ],
    }


def test_site_content_replaces_the_default_colour_map() -> None:
    site = MemoryContent()
    service = TerminologyService(LayeredContent(site, bundled_content()))
    before = service.translate(COLOUR_CS, "orange", url=COLOUR_MAP)
    assert not before.result
    site.put(_site_colour_map("orange", "referral"))
    after = service.translate(COLOUR_CS, "orange", url=COLOUR_MAP).first()
    assert after is not None and after.code == "referral"
    # the whole default map is replaced, not merged
    assert not service.translate(COLOUR_CS, "red", url=COLOUR_MAP).result
    site.remove("ConceptMap", "site-colours")
    assert service.translate(COLOUR_CS, "red", url=COLOUR_MAP).result


def test_cached_members_follow_content_changes() -> None:
    site = MemoryContent()
    service = TerminologyService(LayeredContent(site, bundled_content()))
    vs = {
        "resourceType": "ValueSet",
        "id": "mine",
        "url": "http://example.org/vs",
        "status": "active",
        "compose": {"include": [{"system": GENDER_CS, "concept": [{"code": "male"}]}]},
    }
    site.put(vs)
    assert service.value_set_codes("http://example.org/vs") == {(GENDER_CS, "male")}
    changed = {
        **vs,
        "compose": {"include": [{"system": GENDER_CS, "concept": [{"code": "female"}]}]},
    }
    site.put(changed)
    assert service.value_set_codes("http://example.org/vs") == {(GENDER_CS, "female")}


def test_versions_and_ids() -> None:
    content = MemoryContent(
        [
            {
                "resourceType": "CodeSystem",
                "id": "v1",
                "url": "http://example.org/cs",
                "version": "1",
                "content": "complete",
                "concept": [{"code": "a"}],
            },
            {
                "resourceType": "CodeSystem",
                "id": "v2",
                "url": "http://example.org/cs",
                "version": "2",
                "content": "complete",
                "concept": [{"code": "a"}, {"code": "b"}],
            },
        ]
    )
    service = TerminologyService(content)
    assert service.code_system("http://example.org/cs").get("b") is not None  # latest
    assert service.code_system("http://example.org/cs", "1").get("b") is None
    assert service.code_system("http://example.org/cs|1").get("b") is None
    content.remove("CodeSystem", "v2")
    assert service.code_system("http://example.org/cs").version == "1"
    with pytest.raises(NotFound):
        service.code_system("http://example.org/cs", "2")
    with pytest.raises(ValueError, match="with a url"):
        content.put({"resourceType": "CodeSystem", "id": "x"})


def test_value_set_that_includes_itself_is_refused() -> None:
    loop = {
        "resourceType": "ValueSet",
        "id": "loop",
        "url": "http://example.org/loop",
        "compose": {"include": [{"valueSet": ["http://example.org/loop"]}]},
    }
    service = TerminologyService(MemoryContent([loop]))
    with pytest.raises(Exception, match="includes itself"):
        service.value_set_codes("http://example.org/loop")
