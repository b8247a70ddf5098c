"""string search parameters.

Stored: one entry per text, ``{"n": normalized, "e": exact}`` where ``normalized`` is lowercased
(casefolded), accent-free (NFKD without combining marks) with whitespace collapsed, and ``exact``
the text as written. Texts come from strings, HumanName (family, given, prefix, suffix, text),
Address (line, city, district, state, postalCode, country, text), and the string leaves of any
other complex value.

Queries: no modifier -> some normalized text starts with the normalized search value;
``:exact`` -> some text equals the search value exactly (case and accents count);
``:contains`` -> some normalized text contains the normalized search value.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fhir_server.errors import Invalid
from fhir_server.search.index_types.common import (
    contains,
    entry_filter,
    normalize,
    starts_with,
    unescape,
    unique,
)
from fhir_server.search.index_types.common import missing as missing  # part of the interface

# Elements that are never text of the value itself. What remains of a HumanName is family,
# given, prefix, suffix and text; of an Address, line, city, district, state, postalCode,
# country and text.
_NOT_TEXT = frozenset(
    {"id", "extension", "modifierExtension", "use", "type", "period", "system", "url"}
)


def index(values: list[Any]) -> list[Any]:
    return unique(
        {"n": normalize(text), "e": text}
        for value in values
        for text in _texts(value)
        if text.strip()
    )


def query(path: str, value: str, modifier: str | None) -> dict[str, Any]:
    text = unescape(value)
    if modifier is None:
        return entry_filter(path, [{"n": starts_with(normalize(text))}])
    if modifier == "exact":
        return entry_filter(path, [{"e": text}])
    if modifier == "contains":
        return entry_filter(path, [{"n": contains(normalize(text))}])
    raise Invalid(f"Modifier :{modifier[:40]} is not allowed on a string search parameter")


def sort_value(entries: list[Any], descending: bool) -> Any:
    """The lowest normalized text ascending, the highest descending."""
    texts = [entry["n"] for entry in entries if isinstance(entry, dict) and "n" in entry]
    if not texts:
        return None
    return max(texts) if descending else min(texts)


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in _NOT_TEXT:
                yield from _texts(item)
