"""string index and queries against a real MongoDB-wire server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pymongo.collection import Collection

from fhir_server.errors import Invalid
from fhir_server.search.index_types import string
from tests.search.index_types.support import found, indexed_docs, scratch_collection

PATH = "idx.p"
VALUES: dict[str, list[Any] | None] = {
    "jose": ["José Álvarez"],
    "name": [
        {
            "family": "Müller",
            "given": ["Anna", "Maria"],
            "prefix": ["Dr."],
            "text": "Dr. Anna Müller",
            "use": "official",
            "period": {"start": "2020-01-01"},
        }
    ],
    "address": [
        {
            "line": ["12 Main   Street"],
            "city": "Springfield",
            "postalCode": "12345",
            "country": "US",
            "use": "home",
            "type": "postal",
        }
    ],
    "special": ["a.b*c (x)", "$where", '{"$gt":1}'],
    "escapes": ["A|B", "x$y", "back\\slash", "p,q"],
    "none": None,
}


@pytest.fixture(scope="module")
def collection(mongodb_uri: str) -> Iterator[Collection[dict[str, Any]]]:
    docs = indexed_docs(VALUES, string.index)
    docs.append({"_id": "empty-list", "idx": {"p": []}})  # stored empty: still "missing"
    yield from scratch_collection(mongodb_uri, docs)


@pytest.mark.parametrize(
    ("value", "modifier", "expected"),
    [
        # default: starts-with, case- and accent-insensitive, on each text
        ("jose", None, {"jose"}),
        ("JOSE", None, {"jose"}),
        ("josé á", None, {"jose"}),
        ("alv", None, set()),
        ("muller", None, {"name"}),
        ("MÜLL", None, {"name"}),
        ("maria", None, {"name"}),
        ("dr", None, {"name"}),
        ("dr. anna m", None, {"name"}),
        ("official", None, set()),
        ("2020", None, set()),
        ("12 main street", None, {"address"}),
        ("12   MAIN st", None, {"address"}),
        ("spring", None, {"address"}),
        ("1234", None, {"address"}),
        ("postal", None, set()),
        ("home", None, set()),
        ("a", None, {"name", "special", "escapes"}),
        # :exact: the whole text, case and accents count
        ("Müller", "exact", {"name"}),
        ("muller", "exact", set()),
        ("Müll", "exact", set()),
        ("José Álvarez", "exact", {"jose"}),
        ("12 Main   Street", "exact", {"address"}),
        # :contains: anywhere, case- and accent-insensitive; regex characters are literal
        ("LLER", "contains", {"name"}),
        ("álv", "contains", {"jose"}),
        ("b*c", "contains", {"special"}),
        ("(x)", "contains", {"special"}),
        (".*", "contains", set()),
        ("^a", "contains", set()),
        # operator smuggling: plain text
        ("$where", None, {"special"}),
        ("$where", "exact", {"special"}),
        ("$wh", "contains", {"special"}),
        ('{"$gt":1}', None, {"special"}),
        ('{"$gt":1}', "exact", {"special"}),
        ('{"$gt"', "contains", {"special"}),
        # FHIR escapes: \| \$ \\ are literal characters
        ("A\\|B", "exact", {"escapes"}),
        ("x\\$y", "exact", {"escapes"}),
        ("back\\\\slash", "exact", {"escapes"}),
        ("p,q", "exact", {"escapes"}),
    ],
)
def test_query(
    collection: Collection[dict[str, Any]], value: str, modifier: str | None, expected: set[str]
) -> None:
    assert found(collection, string.query(PATH, value, modifier)) == expected


@pytest.mark.parametrize("modifier", ["text", "not", "below", "above", "in", "Patient"])
def test_modifiers_not_for_strings_are_invalid(modifier: str) -> None:
    with pytest.raises(Invalid):
        string.query(PATH, "x", modifier)


def test_missing(collection: Collection[dict[str, Any]]) -> None:
    assert found(collection, string.missing(PATH, True)) == {"none", "empty-list"}
    assert found(collection, string.missing(PATH, False)) == {
        "jose",
        "name",
        "address",
        "special",
        "escapes",
    }


def test_index_normalizes_deduplicates_and_drops_non_text() -> None:
    entries = string.index(["  Zoë  ", "Zoë", "Zoë", "", "   ", 42, None, True, ["Ça va"]])
    assert entries == [
        {"n": "zoe", "e": "  Zoë  "},
        {"n": "zoe", "e": "Zoë"},
        {"n": "ca va", "e": "Ça va"},
    ]


def test_index_takes_name_and_address_parts_only() -> None:
    entries = string.index(VALUES["name"] or [])
    assert [entry["e"] for entry in entries] == [
        "Müller",
        "Anna",
        "Maria",
        "Dr.",
        "Dr. Anna Müller",
    ]


def test_index_of_other_complex_values_takes_string_leaves() -> None:
    entries = string.index([{"text": "Note", "extension": [{"valueString": "hidden"}], "id": "x"}])
    assert entries == [{"n": "note", "e": "Note"}]


def test_sort_value() -> None:
    entries = string.index(["beta", "Alpha", "gamma"])
    assert string.sort_value(entries, descending=False) == "alpha"
    assert string.sort_value(entries, descending=True) == "gamma"
    assert string.sort_value([], descending=False) is None
