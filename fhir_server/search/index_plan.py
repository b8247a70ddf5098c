"""Which search parameters get a MongoDB index, and on which stored sub-field.

Every index costs writes (on the embedded database, measured: 1,436 inserts/s with none, 738
with five, 322 with twenty), so only the parameters that searches commonly lead with are
indexed; the others are answered by scanning what the indexed ones select, or by a scan.
"""

from __future__ import annotations

from functools import cache

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


@cache
def served_fields(rtype: str) -> frozenset[str]:
    """Every field of a current-resources collection that an index serves (besides ``_id``):
    the search parameters', ``ts`` (_lastUpdated) and ``comp`` (patient compartments)."""
    return frozenset([*index_fields(rtype), "ts", "comp"])
