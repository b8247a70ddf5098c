"""uri index and queries against a real MongoDB-wire server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pymongo.collection import Collection

from fhir_server.errors import Invalid
from fhir_server.search.index_types import uri
from tests.search.index_types.support import found, indexed_docs, scratch_collection

PATH = "idx.p"
VALUES: dict[str, list[Any] | None] = {
    "fhir": ["http://acme.org/fhir"],
    "valueset": ["http://acme.org/fhir/ValueSet/123"],
    "slash": ["http://acme.org/fhir/"],
    "other-host": ["http://acme.orgx/fhir"],
    "dash": ["http://acme.org/fhir-x"],
    "root": ["http://acme.org"],
    "urn": ["urn:oid:1.2.3"],
    "pipe": ["http://acme.org/a|b"],
    "smuggle": ["$where"],
    "none": None,
}
ALL = set(VALUES)


@pytest.fixture(scope="module")
def collection(mongodb_uri: str) -> Iterator[Collection[dict[str, Any]]]:
    yield from scratch_collection(mongodb_uri, indexed_docs(VALUES, uri.index))


@pytest.mark.parametrize(
    ("value", "modifier", "expected"),
    [
        # exact
        ("http://acme.org/fhir", None, {"fhir"}),
        ("http://acme.org/FHIR", None, set()),
        ("http://acme.org/fhir/", None, {"slash"}),
        ("http://acme.org/fh", None, set()),
        ("urn:oid:1.2.3", None, {"urn"}),
        ("http://acme.org/a\\|b", None, {"pipe"}),
        # :below, by path segments
        ("http://acme.org/fhir", "below", {"fhir", "valueset", "slash"}),
        ("http://acme.org/fhir/", "below", {"fhir", "valueset", "slash"}),
        ("http://acme.org", "below", {"fhir", "valueset", "slash", "dash", "root", "pipe"}),
        ("http://acme.org/fhir/ValueSet/123", "below", {"valueset"}),
        ("urn:oid:1.2", "below", set()),
        # :above: the stored uri is the value or an ancestor of it
        ("http://acme.org/fhir/ValueSet/123", "above", {"valueset", "fhir", "slash", "root"}),
        ("http://acme.org/fhir", "above", {"fhir", "slash", "root"}),
        ("http://acme.org/fhir-x/y", "above", {"dash", "root"}),
        ("urn:oid:1.2.3", "above", {"urn"}),
        # operator smuggling: plain strings
        ("$where", None, {"smuggle"}),
        ('{"$gt":1}', None, set()),
        ("$where", "below", {"smuggle"}),
        ('{"$gt":1}', "above", set()),
    ],
)
def test_query(
    collection: Collection[dict[str, Any]], value: str, modifier: str | None, expected: set[str]
) -> None:
    assert found(collection, uri.query(PATH, value, modifier)) == expected


@pytest.mark.parametrize("modifier", ["contains", "exact", "not", "text", "missing", "in"])
def test_other_modifiers_are_invalid(modifier: str) -> None:
    with pytest.raises(Invalid):
        uri.query(PATH, "http://acme.org", modifier)


def test_missing(collection: Collection[dict[str, Any]]) -> None:
    assert found(collection, uri.missing(PATH, True)) == {"none"}
    assert found(collection, uri.missing(PATH, False)) == ALL - {"none"}


def test_index_keeps_exact_strings() -> None:
    assert uri.index(["http://a/B", "http://a/B", "", None, 3, {"x": "y"}]) == ["http://a/B"]


def test_sort_value() -> None:
    assert uri.sort_value(["http://b", "http://a"], descending=False) == "http://a"
    assert uri.sort_value(["http://b", "http://a"], descending=True) == "http://b"
    assert uri.sort_value([], descending=True) is None
