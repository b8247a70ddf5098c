"""``_sort``: the stored field each sort key orders by, and the sort values stored on write.

A parameter's entries may be several; FHIR orders ascending by the lowest value and descending
by the highest, so each sortable parameter with values stores both, as scalars the database
can sort on: ``srt.<code>`` (lowest) and ``srd.<code>`` (highest). A resource without a value
has neither and sorts first ascending and last descending, as MongoDB orders a missing field.
"""

from __future__ import annotations

from typing import Any

from fhir_server.search.definitions import SearchParam, search_params
from fhir_server.search.index_types import date, number, quantity, reference, string, token, uri

ASCENDING_FIELD = "srt"
DESCENDING_FIELD = "srd"
# Fields of the stored document that order by a special parameter.
SPECIAL = {"_id": "_id", "_lastUpdated": "ts"}
_SORT_VALUE = {
    "string": string.sort_value,
    "token": token.sort_value,
    "reference": reference.sort_value,
    "date": date.sort_value,
    "number": number.sort_value,
    "quantity": quantity.sort_value,
    "uri": uri.sort_value,
}


def sortable(param: SearchParam) -> bool:
    return param.code in SPECIAL or (param.type in _SORT_VALUE and not param.code.startswith("_"))


def sort_field(code: str, descending: bool) -> str:
    if code in SPECIAL:
        return SPECIAL[code]
    return f"{DESCENDING_FIELD if descending else ASCENDING_FIELD}.{code}"


def sort_values(rtype: str, index: dict[str, Any]) -> dict[str, Any]:
    """``{"srt": {...}, "srd": {...}}`` for a resource's stored index values (``idx``)."""
    params = search_params(rtype)
    lowest: dict[str, Any] = {}
    highest: dict[str, Any] = {}
    for code, entries in index.items():
        param = params.get(code)
        value_of = _SORT_VALUE.get(param.type) if param is not None else None
        if value_of is None or code.startswith("_"):
            continue
        low, high = value_of(entries, False), value_of(entries, True)
        if low is not None:
            lowest[code] = low
        if high is not None:
            highest[code] = high
    out: dict[str, Any] = {}
    if lowest:
        out[ASCENDING_FIELD] = lowest
    if highest:
        out[DESCENDING_FIELD] = highest
    return out
