"""token index and queries against a real MongoDB-wire server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pymongo.collection import Collection

from fhir_server.errors import Invalid, NotSupported
from fhir_server.search.index_types import token
from tests.search.index_types.support import found, indexed_docs, scratch_collection

PATH = "idx.p"
LOINC = "http://loinc.org"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
VALUES: dict[str, list[Any] | None] = {
    "concept": [
        {
            "coding": [
                {"system": LOINC, "code": "8480-6", "display": "Systolic blood pressure"},
                {"system": "http://snomed.info/sct", "code": "271649006"},
            ],
            "text": "BP systolic",
        }
    ],
    "coding": [
        {"system": "http://hl7.org/fhir/administrative-gender", "code": "male", "display": "Male"}
    ],
    "code": ["female"],
    "boolean": [True],
    "identifier": [
        {
            "use": "usual",
            "system": "urn:oid:1.2.36",
            "value": "12345",
            "type": {"coding": [{"system": V2_0203, "code": "MR"}], "text": "Medical record"},
        }
    ],
    "no-system": [{"value": "12345"}],
    "phone": [{"system": "phone", "value": "+1 555 0100", "use": "home"}],
    "upper": [{"system": "http://x", "code": "ABC"}],
    "pipe": [{"system": "http://x", "code": "a|b"}],
    "smuggle": ["$where", '{"$gt":1}'],
    "none": None,
}
ALL = set(VALUES)


@pytest.fixture(scope="module")
def collection(mongodb_uri: str) -> Iterator[Collection[dict[str, Any]]]:
    yield from scratch_collection(mongodb_uri, indexed_docs(VALUES, token.index))


@pytest.mark.parametrize(
    ("value", "modifier", "expected"),
    [
        # code: any system
        ("8480-6", None, {"concept"}),
        ("271649006", None, {"concept"}),
        ("male", None, {"coding"}),
        ("MALE", None, set()),
        ("ABC", None, {"upper"}),
        ("abc", None, set()),
        ("female", None, {"code"}),
        ("true", None, {"boolean"}),
        ("false", None, set()),
        ("12345", None, {"identifier", "no-system"}),
        ("+1 555 0100", None, {"phone"}),
        # system|code
        (f"{LOINC}|8480-6", None, {"concept"}),
        ("http://snomed.info/sct|8480-6", None, set()),
        ("urn:oid:1.2.36|12345", None, {"identifier"}),
        ("phone|+1 555 0100", None, {"phone"}),
        ("email|+1 555 0100", None, set()),
        # |code: no system
        ("|female", None, {"code"}),
        ("|12345", None, {"no-system"}),
        ("|male", None, set()),
        # system|: any code of the system
        (f"{LOINC}|", None, {"concept"}),
        ("http://x|", None, {"upper", "pipe"}),
        # escapes: \| is part of the code
        ("a\\|b", None, {"pipe"}),
        ("http://x|a\\|b", None, {"pipe"}),
        # operator smuggling: plain codes
        ("$where", None, {"smuggle"}),
        ('{"$gt":1}', None, {"smuggle"}),
        ("$where|x", None, set()),
        # :not: no entry matches (resources without the parameter match too)
        ("male", "not", ALL - {"coding"}),
        (f"{LOINC}|8480-6", "not", ALL - {"concept"}),
        (f"{LOINC}|", "not", ALL - {"concept"}),
        ("12345", "not", ALL - {"identifier", "no-system"}),
        ("|12345", "not", ALL - {"no-system"}),
        ("nothing", "not", ALL),
        # :text: starts-with on CodeableConcept.text, Coding.display, Identifier.type.text
        ("bp", "text", {"concept"}),
        ("SYSTOLIC", "text", {"concept"}),
        ("pressure", "text", set()),
        ("mâle", "text", {"coding"}),
        ("medical rec", "text", {"identifier"}),
        ("8480", "text", set()),
        # :of-type: typesystem|typecode|value on one Identifier
        (f"{V2_0203}|MR|12345", "of-type", {"identifier"}),
        (f"{V2_0203}|MR|99999", "of-type", set()),
        (f"{V2_0203}|DL|12345", "of-type", set()),
        ("http://other|MR|12345", "of-type", set()),
    ],
)
def test_query(
    collection: Collection[dict[str, Any]], value: str, modifier: str | None, expected: set[str]
) -> None:
    assert found(collection, token.query(PATH, value, modifier)) == expected


@pytest.mark.parametrize(
    ("value", "modifier"),
    [
        ("a|b|c", None),
        ("|", None),
        ("|", "not"),
        ("MR|12345", "of-type"),
        (f"{V2_0203}||12345", "of-type"),
        ("x", "exact"),
        ("x", "contains"),
        ("x", "identifier"),
        ("x", "Patient"),
        ("x", "missing"),
    ],
)
def test_malformed_values_and_modifiers_are_invalid(value: str, modifier: str | None) -> None:
    with pytest.raises(Invalid):
        token.query(PATH, value, modifier)


@pytest.mark.parametrize("modifier", ["in", "not-in", "above", "below"])
def test_terminology_modifiers_are_not_supported_yet(modifier: str) -> None:
    with pytest.raises(NotSupported, match="terminology"):
        token.query(PATH, "http://loinc.org|8480-6", modifier)


def test_missing(collection: Collection[dict[str, Any]]) -> None:
    assert found(collection, token.missing(PATH, True)) == {"none"}
    assert found(collection, token.missing(PATH, False)) == ALL - {"none"}


def test_index_entries() -> None:
    entries = token.index(
        [
            False,
            7,
            "",
            {"system": "s", "code": "c", "display": "Dé"},
            {"system": "s", "code": "c"},
            {"coding": [{"code": "x"}], "text": "  "},
            {"system": "s"},
            {"value": "v", "type": {"coding": [{"code": "T"}, {"system": "ts"}]}},
        ]
    )
    assert entries == [
        {"s": "", "c": "false"},
        {"s": "", "c": "7"},
        {"s": "s", "c": "c"},
        {"t": "de"},
        {"s": "", "c": "x"},
        {"s": "", "c": "v"},
        {"ts": "", "tc": "T", "v": "v"},
    ]


def test_sort_value() -> None:
    entries = token.index(["b", {"code": "a", "display": "zzz"}, "c"])
    assert token.sort_value(entries, descending=False) == "a"
    assert token.sort_value(entries, descending=True) == "c"
    assert token.sort_value([{"t": "text only"}], descending=False) is None
