"""date index and queries against a real MongoDB-wire server: every prefix, partial dates,
times and zones, Periods with open ends, Timing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.collection import Collection

from fhir_server.errors import Invalid
from fhir_server.search.index_types import date
from tests.search.index_types.support import found, indexed_docs, scratch_collection

PATH = "idx.p"
TODAY = datetime.now(UTC).date()
VALUES: dict[str, list[Any] | None] = {
    "day": ["2020-06-15"],  # [06-15, 06-16)
    "month": ["2020-06"],  # [06-01, 07-01)
    "year": ["2020"],  # [2020, 2021)
    "instant": ["2020-06-15T10:30:00Z"],  # [10:30:00, 10:30:01)
    "zoned": ["2020-06-15T23:30:00-02:00"],  # 2020-06-16T01:30Z
    "open-end": [{"start": "2020-06-10"}],  # [06-10, MAX)
    "open-start": [{"end": "2020-06-20"}],  # [MIN, 06-21)
    "period": [{"start": "2020-06-01", "end": "2020-06-30"}],  # [06-01, 07-01)
    "old": ["1990-01-01"],
    "timing": [  # 2021-03-01T08:00Z and [2019-01-01, 2020-01-01)
        {
            "event": ["2021-03-01T08:00:00Z"],
            "repeat": {"boundsPeriod": {"start": "2019-01-01", "end": "2019-12-31"}},
        }
    ],
    "tomorrow": [(TODAY + timedelta(days=1)).isoformat()],
    "in-3-days": [(TODAY + timedelta(days=3)).isoformat()],
    "none": None,
}
ALL = set(VALUES)
RECENT = {"tomorrow", "in-3-days"}
# against [2020-06-15, 2020-06-16): contained / reaching above / reaching below
EQ = {"day", "instant"}
GT = {"month", "year", "zoned", "open-end", "open-start", "period", "timing"} | RECENT
LT = {"month", "year", "open-end", "open-start", "period", "old", "timing"}


@pytest.fixture(scope="module")
def collection(mongodb_uri: str) -> Iterator[Collection[dict[str, Any]]]:
    yield from scratch_collection(mongodb_uri, indexed_docs(VALUES, date.index))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # search range [2020-06-15, 2020-06-16)
        ("2020-06-15", {"day", "instant"}),
        ("eq2020-06-15", {"day", "instant"}),
        ("ne2020-06-15", ALL - EQ - {"none"}),
        ("gt2020-06-15", GT),
        ("lt2020-06-15", LT),
        ("ge2020-06-15", GT | EQ),
        ("le2020-06-15", LT | EQ),
        ("sa2020-06-15", {"zoned", "timing"} | RECENT),
        ("eb2020-06-15", {"old", "timing"}),
        # ap: widened by 10% of the gap to now (about 3.6 years around 1990)
        ("ap1990-01-01", {"old", "open-start"}),
        # ap: at least one day either side
        (f"ap{TODAY.isoformat()}", {"open-end", "tomorrow"}),
        # partial precision
        ("2020-06", {"day", "month", "instant", "zoned", "period"}),
        ("2020", {"day", "month", "year", "instant", "zoned", "period"}),
        ("ge2021", {"open-end", "timing"} | RECENT),
        ("lt2020", {"open-start", "old", "timing"}),
        ("gt2020", {"open-end", "timing"} | RECENT),
        ("sa2020", {"timing"} | RECENT),
        ("eb2020", {"old", "timing"}),
        ("eq1990", {"old"}),
        ("2019", {"timing"}),
        # times; without a zone they are UTC; a '+' decoded to a space is read as '+'
        ("2020-06-15T10:30", {"instant"}),
        ("2020-06-15T10:30:00", {"instant"}),
        ("2020-06-15T12:30:00+02:00", {"instant"}),
        ("2020-06-15T12:30:00 02:00", {"instant"}),
        ("2020-06-15T10:30:00.000Z", set()),  # a millisecond range: the second is wider
        ("2020-06-16T01:30:00Z", {"zoned"}),
        ("lt2020-06-15T10:30:00Z", LT | {"day"}),
        ("sa2020-06-15T10:30:00Z", {"zoned", "timing"} | RECENT),
    ],
)
def test_query(collection: Collection[dict[str, Any]], value: str, expected: set[str]) -> None:
    assert found(collection, date.query(PATH, value, None)) == expected


@pytest.mark.parametrize(
    "value",
    [
        "2020-13-01",
        "2020-02-30",
        "20200101",
        "2020-06-15T25:00Z",
        "2020-06-15T10",
        "xx2020",
        "gt",
        "",
        "$where",
        '{"$gt":1}',
        "2020-01-01T00:00:00Z$where",
        "0001-01-01T00:00:00+01:00",  # before the first representable instant
        "2020" * 20,
    ],
)
def test_malformed_values_are_invalid(value: str) -> None:
    with pytest.raises(Invalid):
        date.query(PATH, value, None)


@pytest.mark.parametrize("modifier", ["exact", "not", "text", "below", "missing"])
def test_modifiers_are_invalid(modifier: str) -> None:
    with pytest.raises(Invalid):
        date.query(PATH, "2020", modifier)


def test_missing(collection: Collection[dict[str, Any]]) -> None:
    assert found(collection, date.missing(PATH, True)) == {"none"}
    assert found(collection, date.missing(PATH, False)) == ALL - {"none"}


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


def test_index_ranges() -> None:
    assert date.index(
        [
            "2020-03-04T10:00:00.1234+02:00",
            {"start": "2020-01-01", "end": "2020-01-01"},
            {},
            {"start": "not a date"},
            "bad",
            "9999-12-31",
            None,
            "2020",
            "2020",
        ]
    ) == [
        # sub-millisecond precision widens to whole milliseconds (what BSON keeps)
        {"lo": utc(2020, 3, 4, 8, 0, 0, 123000), "hi": utc(2020, 3, 4, 8, 0, 0, 124000)},
        {"lo": utc(2020, 1, 1), "hi": utc(2020, 1, 2)},
        # the last day of the calendar ends at the last representable millisecond
        {"lo": utc(9999, 12, 31), "hi": date.MAX},
        {"lo": utc(2020, 1, 1), "hi": utc(2021, 1, 1)},
    ]


def test_open_period_ends_are_sentinels() -> None:
    assert date.index([{"start": "2020"}, {"end": "2020"}]) == [
        {"lo": utc(2020, 1, 1), "hi": date.MAX},
        {"lo": date.MIN, "hi": utc(2021, 1, 1)},
    ]


def test_sort_value() -> None:
    entries = date.index(["2020-06-15", {"start": "2019-01-01", "end": "2019-02-01"}, "2021"])
    assert date.sort_value(entries, descending=False) == utc(2019, 1, 1)
    assert date.sort_value(entries, descending=True) == utc(2022, 1, 1)
    assert date.sort_value([], descending=True) is None
