"""Which search parameters get a MongoDB index, and on which stored sub-field.

Every index costs writes (on the embedded database, measured: 1,436 inserts/s with none, 738
with five, 322 with twenty), so only the parameters that searches commonly lead with are
indexed; the others are answered by scanning what the indexed ones select, or by a scan.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from fhir_server.search.definitions import search_params

DEFAULT_INDEXED = (
    "identifier",
    "name",
    "family",
    "given",
    "birthdate",
    "subject",
    "patient",
    "code",
    "date",
    "url",
)
# The sub-field of each type's stored entries that equality and prefix queries lead with.
PRIMARY_SUBFIELD = {"token": "c", "string": "n", "reference": "r", "date": "lo", "number": "v",
                    "quantity": "v", "uri": ""}  # fmt: skip


@cache
def index_fields(rtype: str, indexed: tuple[str, ...] = DEFAULT_INDEXED) -> list[str]:
    fields = []
    params = search_params(rtype)
    for code in indexed:
        param = params.get(code)
        if param is None or param.type not in PRIMARY_SUBFIELD:
            continue
        sub = PRIMARY_SUBFIELD[param.type]
        fields.append(f"idx.{code}.{sub}" if sub else f"idx.{code}")
    return fields


def choose_index(rtype: str, filter_: dict[str, Any]) -> str | None:
    """The index a search should use, as a hint: the embedded database's planner picks an index
    only for a filter of one predicate, and real MongoDB takes the hint just as well.
    Preference: ``_id``, then an indexed search parameter, then the patient compartment."""
    if "_id" in filter_:
        return "_id_"
    indexed = set(index_fields(rtype))
    for key in filter_:
        if key in indexed:
            return key
    if "comp" in filter_:
        return "patientCompartment"
    return None
