"""composite index and queries against a real MongoDB-wire server: the components of one
search value must match inside ONE stored element."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pymongo.collection import Collection

from fhir_server.errors import Invalid, NotSupported
from fhir_server.search.index_types import composite
from tests.search.index_types.support import found, scratch_collection

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CODE_QUANTITY = [("code", "token"), ("value-quantity", "quantity")]
CODE_STRING = [("code", "token"), ("value-string", "string")]
CODE_DATE = [("code", "token"), ("value-date", "date")]


def concept(code: str) -> dict[str, Any]:
    return {"coding": [{"system": LOINC, "code": code}]}


def mmhg(value: float) -> dict[str, Any]:
    return {"value": value, "system": UCUM, "code": "mm[Hg]", "unit": "mmHg"}


# per document: the raw elements of each of three composite parameters
ELEMENTS: dict[str, dict[str, list[dict[str, list[Any]]]]] = {
    "bp": {
        "cq": [
            {"code": [concept("8480-6")], "value-quantity": [mmhg(120)]},
            {"code": [concept("8462-4")], "value-quantity": [mmhg(80)]},
        ],
    },
    "low": {"cq": [{"code": [concept("8480-6")], "value-quantity": [mmhg(95)]}]},
    "no-value": {"cq": [{"code": [concept("8480-6")], "value-quantity": []}]},
    "dollar": {"cs": [{"code": ["a$b"], "value-string": ["x$y Café"]}]},
    "dated": {"cd": [{"code": ["c1"], "value-date": ["2020-06-15"]}]},
    "none": {},
}
COMPONENTS = {"cq": CODE_QUANTITY, "cs": CODE_STRING, "cd": CODE_DATE}


@pytest.fixture(scope="module")
def collection(mongodb_uri: str) -> Iterator[Collection[dict[str, Any]]]:
    docs = []
    for key, params in ELEMENTS.items():
        idx = {}
        for code, elements in params.items():
            entries = composite.index_composite(elements, COMPONENTS[code])
            if entries:
                idx[code] = entries
        docs.append({"_id": key, "idx": idx})
    yield from scratch_collection(mongodb_uri, docs)


@pytest.mark.parametrize(
    ("code", "value", "expected"),
    [
        ("cq", f"{LOINC}|8480-6$120", {"bp"}),
        ("cq", f"{LOINC}|8462-4$80", {"bp"}),
        # systolic 80 exists only across two elements of bp: no match
        ("cq", f"{LOINC}|8480-6$80", set()),
        ("cq", "8480-6$gt100", {"bp"}),
        ("cq", "8480-6$lt100", {"low"}),
        ("cq", "8480-6$ne120", {"low"}),  # bp's systolic is 120; its 80 is diastolic
        ("cq", f"8480-6$gt100|{UCUM}|mm[Hg]", {"bp"}),
        ("cq", "8480-6$120||mm[Hg]", {"bp"}),  # code-or-unit: OR distributed
        ("cq", "8480-6$ne120||mmHg", {"low"}),  # ne x code-or-unit: four alternatives
        ("cq", "8480-6$ge80", {"bp", "low"}),
        ("cq", "8462-4$ge100", set()),
        # escaped '$' inside component values
        ("cs", "a\\$b$x\\$y", {"dollar"}),
        ("cs", "a\\$b$x\\$y cafe", {"dollar"}),
        ("cs", "a\\$b$cafe", set()),
        # date component: ge is an OR, distributed too
        ("cd", "c1$ge2020-06-01", {"dated"}),
        ("cd", "c1$2020-06", {"dated"}),
        ("cd", "c1$lt2020-06-15", set()),
        ("cd", "c2$2020", set()),
        # operator smuggling: plain values
        ("cq", "\\$where$5", set()),
        ("cs", '{"\\$gt":1}$x', set()),
    ],
)
def test_query(
    collection: Collection[dict[str, Any]], code: str, value: str, expected: set[str]
) -> None:
    filter_ = composite.query_composite(f"idx.{code}", value, COMPONENTS[code])
    assert found(collection, filter_) == expected


@pytest.mark.parametrize(
    "value",
    ["8480-6", "8480-6$120$x", "8480-6\\$120", "8480-6$abc", "8480-6$xx5", "a|b|c$5", "$where$5"],
)
def test_malformed_values_are_invalid(value: str) -> None:
    with pytest.raises(Invalid):
        composite.query_composite("idx.cq", value, CODE_QUANTITY)


def test_component_type_without_module_is_not_supported() -> None:
    with pytest.raises(NotSupported):
        composite.query_composite("idx.x", "a$b", [("code", "token"), ("v", "special")])


@pytest.mark.parametrize("code", ["", "$where", "a.b"])
def test_component_codes_must_be_plain_field_names(code: str) -> None:
    with pytest.raises(ValueError, match="field name"):
        composite.index_composite([{code: ["x"]}], [(code, "token")])


def test_missing(collection: Collection[dict[str, Any]]) -> None:
    assert found(collection, composite.missing("idx.cq", True)) == {
        "no-value",
        "dollar",
        "dated",
        "none",
    }
    assert found(collection, composite.missing("idx.cq", False)) == {"bp", "low"}


def test_index_stores_each_component_by_its_type() -> None:
    entries = composite.index_composite(
        [
            {"code": [concept("8480-6")], "value-quantity": [mmhg(120)]},
            {"code": [concept("8480-6")], "value-quantity": [mmhg(120)]},
            {"code": [concept("8480-6")]},
        ],
        CODE_QUANTITY,
    )
    assert entries == [
        {
            "code": [{"s": LOINC, "c": "8480-6"}],
            "value-quantity": [
                {
                    "v": 120.0,
                    "lo": 119.5,
                    "hi": 120.5,
                    "s": UCUM,
                    "c": "mm[Hg]",
                    "u": "mmHg",
                    # in canonical UCUM units (g.m-1.s-2 = Pa / 1000): 120 mm[Hg] = 15,998.7 Pa
                    "k": "g.m-1.s-2",
                    "kv": 15998686.4898,
                    "klo": 15932025.2961,
                    "khi": 16065347.6835,
                }
            ],
        }
    ]


def test_not_sortable() -> None:
    assert composite.sort_value([{"code": []}], descending=False) is None
