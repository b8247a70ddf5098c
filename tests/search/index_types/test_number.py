"""number index and queries against a real MongoDB-wire server: every prefix, with the
implicit precision of search and stored values."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from pymongo.collection import Collection

from fhir_server.errors import Invalid
from fhir_server.search.index_types import number
from tests.search.index_types.support import found, indexed_docs, scratch_collection

PATH = "idx.p"
VALUES: dict[str, list[Any] | None] = {
    "100": [100],  # [99.5, 100.5)
    "100.2": [Decimal("100.2")],  # [100.15, 100.25)
    "99.7": [99.7],  # [99.65, 99.75)
    "100.5": [Decimal("100.5")],  # [100.45, 100.55)
    "101": [101],  # [100.5, 101.5)
    "-5": [-5],
    "0": [0],
    "1000": [1000],
    "1-and-200": [1, 200],
    "none": None,
}
ALL = set(VALUES)


@pytest.fixture(scope="module")
def collection(mongodb_uri: str) -> Iterator[Collection[dict[str, Any]]]:
    yield from scratch_collection(mongodb_uri, indexed_docs(VALUES, number.index))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # search 100: [99.5, 100.5)
        ("100", {"100", "100.2", "99.7"}),
        ("eq100", {"100", "100.2", "99.7"}),
        ("ne100", {"100.5", "101", "-5", "0", "1000", "1-and-200"}),
        ("gt100", {"100.2", "100.5", "101", "1000", "1-and-200"}),
        ("lt100", {"99.7", "-5", "0", "1-and-200"}),
        ("ge100", {"100", "100.2", "100.5", "101", "1000", "1-and-200"}),
        ("le100", {"100", "99.7", "-5", "0", "1-and-200"}),
        ("sa100", {"101", "1000", "1-and-200"}),
        ("eb100", {"-5", "0", "1-and-200"}),
        ("ap100", {"100", "100.2", "99.7", "100.5", "101"}),  # +-10
        # precision of the search value
        ("100.0", {"100"}),
        ("100.00", {"100"}),
        ("100.2", {"100.2"}),
        ("1e2", {"100", "100.2", "99.7", "100.5", "101"}),  # [50, 150)
        ("1.0e2", {"100", "100.2", "99.7", "100.5", "101"}),  # [95, 105)
        ("1.000e2", {"100"}),  # [99.95, 100.05)
        ("100.5", {"100.5"}),
        # negative and zero
        ("-5", {"-5"}),
        ("lt-4.5", {"-5"}),
        ("0", {"0"}),
        ("ap0", {"0"}),
        ("ge1000", {"1000"}),
        ("gt1000", set()),
    ],
)
def test_query(collection: Collection[dict[str, Any]], value: str, expected: set[str]) -> None:
    assert found(collection, number.query(PATH, value, None)) == expected


@pytest.mark.parametrize(
    "value",
    [
        "abc",
        "xx5",
        "1.2.3",
        "1e999",
        "NaN",
        "Infinity",
        "gt",
        "",
        "+5",
        "5 ",
        "$where",
        '{"$gt":1}',
    ],
)
def test_malformed_values_are_invalid(value: str) -> None:
    with pytest.raises(Invalid):
        number.query(PATH, value, None)


@pytest.mark.parametrize("modifier", ["exact", "not", "missing", "text"])
def test_modifiers_are_invalid(modifier: str) -> None:
    with pytest.raises(Invalid):
        number.query(PATH, "5", modifier)


def test_missing(collection: Collection[dict[str, Any]]) -> None:
    assert found(collection, number.missing(PATH, True)) == {"none"}
    assert found(collection, number.missing(PATH, False)) == ALL - {"none"}


def test_index_keeps_precision_and_drops_non_numbers() -> None:
    assert number.index(
        [100, Decimal("100.00"), 0.1, "1e2", True, float("nan"), float("inf"), "x", None, 100]
    ) == [
        {"v": 100.0, "lo": 99.5, "hi": 100.5},
        {"v": 100.0, "lo": 99.995, "hi": 100.005},
        {"v": 0.1, "lo": 0.05, "hi": 0.15},
        {"v": 100.0, "lo": 50.0, "hi": 150.0},
    ]


def test_sort_value() -> None:
    entries = number.index([3, -1, 7.5])
    assert number.sort_value(entries, descending=False) == -1.0
    assert number.sort_value(entries, descending=True) == 7.5
    assert number.sort_value([], descending=False) is None
