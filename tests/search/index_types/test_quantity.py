"""quantity index and queries against a real MongoDB-wire server: every prefix, with and
without system and code."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pymongo.collection import Collection

from fhir_server.errors import Invalid
from fhir_server.search.index_types import quantity
from tests.search.index_types.support import found, indexed_docs, scratch_collection

PATH = "idx.p"
UCUM = "http://unitsofmeasure.org"
VALUES: dict[str, list[Any] | None] = {
    "mg": [{"value": 5.4, "system": UCUM, "code": "mg", "unit": "mg"}],
    "unit-only": [{"value": 5.4, "unit": "mg"}],
    "gram": [{"value": 5.4, "system": UCUM, "code": "g", "unit": "gram"}],
    "other-system": [{"value": 5.4, "system": "http://other", "code": "mg"}],
    "10mg": [{"value": 10, "system": UCUM, "code": "mg", "unit": "mg"}],
    "money": [{"value": 100, "currency": "EUR"}],
    "age": [{"value": 65, "system": UCUM, "code": "a", "unit": "years"}],
    "no-value": [{"system": UCUM, "code": "mg"}],
    "5400ug": [{"value": 5400, "system": UCUM, "code": "ug", "unit": "µg"}],
    "glucose": [{"value": 5.5, "system": UCUM, "code": "mmol/L"}],
    "fever": [{"value": 38.5, "system": UCUM, "code": "Cel"}],
    "fever-f": [{"value": 101.3, "system": UCUM, "code": "[degF]"}],
    "odd-unit": [{"value": 3, "system": UCUM, "code": "{beats}/min/zz"}],
    "none": None,
}
ALL = set(VALUES)
MG_ANY_SYSTEM = {"mg", "unit-only", "other-system"}


@pytest.fixture(scope="module")
def collection(mongodb_uri: str) -> Iterator[Collection[dict[str, Any]]]:
    yield from scratch_collection(mongodb_uri, indexed_docs(VALUES, quantity.index))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # number alone: any unit
        ("5.4", {"mg", "unit-only", "gram", "other-system"}),
        ("5", {"mg", "unit-only", "gram", "other-system"}),  # [4.5, 5.5)
        ("5.0", set()),
        ("1e1", {"mg", "unit-only", "gram", "other-system", "10mg", "glucose"}),  # [5, 15)
        ("1.0e1", {"10mg"}),
        # number|system|code: both exactly
        (f"5.4|{UCUM}|mg", {"mg", "5400ug"}),  # UCUM: 5,400 ug is 5.4 mg
        (f"5400|{UCUM}|ug", {"mg", "5400ug"}),
        (f"5.4|{UCUM}|ug", set()),
        (f"0.0054|{UCUM}|g", {"mg", "5400ug"}),
        (f"5.4|{UCUM}|", {"mg", "gram"}),
        # converted with the search value's precision: 5500 umol/L is 5.5 mmol/L
        (f"5500|{UCUM}|umol/L", {"glucose"}),
        (f"gt5|{UCUM}|mmol/L", {"glucose"}),
        (f"5.5|{UCUM}|mg", set()),  # another kind of unit never matches
        # offset units: 38.5 Cel = 101.3 [degF]; ge 38 Cel finds both
        (f"ge38|{UCUM}|Cel", {"fever", "fever-f"}),
        (f"101.3|{UCUM}|[degF]", {"fever", "fever-f"}),
        (f"lt100|{UCUM}|[degF]", set()),
        # a unit UCUM does not know: compared as written
        (f"3|{UCUM}|{{beats}}/min/zz", {"odd-unit"}),
        # number||code: the code or the unit
        ("5.4||mg", MG_ANY_SYSTEM),
        ("5.4||gram", {"gram"}),
        ("5.4||", {"mg", "unit-only", "gram", "other-system"}),
        # every prefix, with a code (the OR of code/unit times the OR of ne)
        ("eq5.4||mg", MG_ANY_SYSTEM),
        ("ne5.4||mg", {"10mg"}),
        (f"ne5.4|{UCUM}|mg", {"10mg", "gram"}),  # 5.4 g is not 5.4 mg; 5,400 ug is
        ("ne5.4", {"10mg", "money", "age", "5400ug", "glucose", "fever", "fever-f", "odd-unit"}),
        (f"gt5|{UCUM}|mg", {"mg", "10mg", "gram", "5400ug"}),
        ("lt6||mg", MG_ANY_SYSTEM),
        (f"ge10|{UCUM}|mg", {"10mg", "gram"}),
        ("le5.4||mg", MG_ANY_SYSTEM),
        (f"sa5|{UCUM}|mg", {"10mg", "gram"}),
        ("eb6||mg", MG_ANY_SYSTEM),
        ("ap5||mg", MG_ANY_SYSTEM),
        ("ap9||mg", {"10mg"}),
        # Money and Age
        ("100||EUR", {"money"}),
        ("100|urn:iso:std:iso:4217|EUR", {"money"}),
        ("100||USD", set()),
        (f"ge65|{UCUM}|a", {"age"}),
        ("65||years", {"age"}),
        # operator smuggling in system and code: plain strings
        ("5.4|$where|mg", set()),
        ('5.4||{"$gt":1}', set()),
    ],
)
def test_query(collection: Collection[dict[str, Any]], value: str, expected: set[str]) -> None:
    assert found(collection, quantity.query(PATH, value, None)) == expected


@pytest.mark.parametrize(
    "value", ["5.4|mg", "5|a|b|c", "abc||mg", "xx5||mg", "|http://x|mg", "$where", "gt||mg"]
)
def test_malformed_values_are_invalid(value: str) -> None:
    with pytest.raises(Invalid):
        quantity.query(PATH, value, None)


@pytest.mark.parametrize("modifier", ["exact", "not", "missing", "text"])
def test_modifiers_are_invalid(modifier: str) -> None:
    with pytest.raises(Invalid):
        quantity.query(PATH, "5", modifier)


def test_missing(collection: Collection[dict[str, Any]]) -> None:
    assert found(collection, quantity.missing(PATH, True)) == {"no-value", "none"}
    assert found(collection, quantity.missing(PATH, False)) == ALL - {"no-value", "none"}


def test_index_entries() -> None:
    assert quantity.index(
        [
            {"value": 5.4, "system": UCUM, "code": "mg", "unit": "mg"},
            {"value": 5.4, "system": UCUM, "code": "mg", "unit": "mg"},
            {"value": 3, "comparator": "<", "unit": ""},
            {"value": True},
            {"value": 12.5, "currency": "EUR"},
            5,
        ]
    ) == [
        {
            "v": 5.4,
            "lo": 5.35,
            "hi": 5.45,
            "s": UCUM,
            "c": "mg",
            "u": "mg",
            "k": "g",
            "kv": 0.0054,
            "klo": 0.00535,
            "khi": 0.00545,
        },  # canonical: grams
        {"v": 3.0, "lo": 2.5, "hi": 3.5},
        {"v": 12.5, "lo": 12.45, "hi": 12.55, "s": "urn:iso:std:iso:4217", "c": "EUR"},
    ]


def test_sort_value() -> None:
    entries = quantity.index([{"value": 2}, {"value": 1.5}, {"value": 9}])
    assert quantity.sort_value(entries, descending=False) == 1.5
    assert quantity.sort_value(entries, descending=True) == 9.0
