"""reference index and queries against a real MongoDB-wire server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pymongo.collection import Collection

from fhir_server.errors import Invalid, NotSupported
from fhir_server.search.index_types import reference
from tests.search.index_types.support import found, indexed_docs, scratch_collection

PATH = "idx.p"
UUID = "urn:uuid:0b6e3d2c-1111-2222-3333-444455556666"
VALUES: dict[str, list[Any] | None] = {
    "relative": [{"reference": "Patient/123", "display": "Jane"}],
    "versioned": [{"reference": "Patient/456/_history/3"}],
    "group": [{"reference": "Group/123"}],
    "absolute": [{"reference": "http://other.org/fhir/Patient/789"}],
    "absolute-versioned": [{"reference": "http://other.org/fhir/Patient/790/_history/2"}],
    "contained": [{"reference": "#p1"}],
    "identifier": [{"identifier": {"system": "http://ns", "value": "A-1"}, "display": "x"}],
    "canonical": ["http://acme.org/fhir/ValueSet/vs1|2.0"],
    "canonical-unversioned": ["http://acme.org/fhir/ValueSet/vs2"],
    "urn": [UUID],
    "odd": [{"reference": "Patient/$where"}],
    "none": None,
}


@pytest.fixture(scope="module")
def collection(mongodb_uri: str) -> Iterator[Collection[dict[str, Any]]]:
    yield from scratch_collection(mongodb_uri, indexed_docs(VALUES, reference.index))


@pytest.mark.parametrize(
    ("value", "modifier", "expected"),
    [
        # Type/id, versions ignored
        ("Patient/123", None, {"relative"}),
        ("Patient/456", None, {"versioned"}),
        ("Patient/456/_history/9", None, {"versioned"}),
        ("Group/123", None, {"group"}),
        ("Patient/999", None, set()),
        # plain id: a relative reference of any type
        ("123", None, {"relative", "group"}),
        ("456", None, {"versioned"}),
        ("789", None, set()),
        # :Type
        ("123", "Patient", {"relative"}),
        ("123", "Group", {"group"}),
        ("Patient/123", "Patient", {"relative"}),
        ("http://other.org/fhir/Patient/789", "Patient", {"absolute"}),
        # absolute URLs: the URL itself, or its Type/id tail as a local reference
        ("http://other.org/fhir/Patient/789", None, {"absolute"}),
        ("Patient/789", None, set()),
        ("http://this.server/fhir/Patient/123", None, {"relative"}),
        ("http://other.org/fhir/Patient/790/_history/5", None, {"absolute-versioned"}),
        ("http://other.org/fhir/Patient/790", None, {"absolute-versioned"}),
        # canonicals: url (any version) or url|version
        ("http://acme.org/fhir/ValueSet/vs1", None, {"canonical"}),
        ("http://acme.org/fhir/ValueSet/vs1|2.0", None, {"canonical"}),
        ("http://acme.org/fhir/ValueSet/vs1|1.0", None, set()),
        ("http://acme.org/fhir/ValueSet/vs2", None, {"canonical-unversioned"}),
        (UUID, None, {"urn"}),
        # contained references are not indexed
        ("#p1", None, set()),
        ("p1", None, set()),
        # :identifier, token syntax
        ("http://ns|A-1", "identifier", {"identifier"}),
        ("A-1", "identifier", {"identifier"}),
        ("http://ns|", "identifier", {"identifier"}),
        ("http://other|A-1", "identifier", set()),
        ("|A-1", "identifier", set()),
        # operator smuggling: plain values
        ("Patient/$where", None, {"odd"}),
        ("$where", None, set()),
        ('{"$gt":1}', None, set()),
        ("$where", "identifier", set()),
    ],
)
def test_query(
    collection: Collection[dict[str, Any]], value: str, modifier: str | None, expected: set[str]
) -> None:
    assert found(collection, reference.query(PATH, value, modifier)) == expected


@pytest.mark.parametrize(
    ("value", "modifier"),
    [
        ("Patient/123", "Group"),
        ("http://other.org/fhir/Patient/789", "Group"),
        ("a b", "Patient"),
        ("x", "patient"),
        ("x", "text"),
        ("x", "not"),
        ("x", "exact"),
        ("x", "$where"),
        ("a|b|c", "identifier"),
    ],
)
def test_malformed_values_and_modifiers_are_invalid(value: str, modifier: str) -> None:
    with pytest.raises(Invalid):
        reference.query(PATH, value, modifier)


@pytest.mark.parametrize("modifier", ["above", "below"])
def test_hierarchy_modifiers_are_not_supported(modifier: str) -> None:
    with pytest.raises(NotSupported):
        reference.query(PATH, "http://acme.org/fhir/ValueSet/vs1", modifier)


def test_missing(collection: Collection[dict[str, Any]]) -> None:
    assert found(collection, reference.missing(PATH, True)) == {"contained", "none"}
    assert found(collection, reference.missing(PATH, False)) == set(VALUES) - {
        "contained",
        "none",
    }


def test_index_entries() -> None:
    assert reference.index(
        [
            {"reference": "Patient/1/_history/2"},
            {"reference": "Patient/1"},
            {"reference": "#x"},
            {"display": "no reference"},
            {"identifier": {"value": "v"}},
            "http://vs|1.0",
            "http://vs|",
            42,
        ]
    ) == [
        {"r": "Patient/1", "i": "1"},
        {"is": "", "iv": "v"},
        {"r": "http://vs", "v": "1.0"},
        {"r": "http://vs"},
    ]


def test_sort_value() -> None:
    entries = reference.index([{"reference": "Patient/2"}, {"reference": "Group/9"}])
    assert reference.sort_value(entries, descending=False) == "Group/9"
    assert reference.sort_value(entries, descending=True) == "Patient/2"
    assert reference.sort_value([{"is": "s", "iv": "v"}], descending=False) is None
