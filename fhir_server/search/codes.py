"""Token ``:in``, ``:not-in``, ``:below`` and ``:above``: the codes a terminology service gives
(a value set's members, a code's descendants or ancestors), searched as token conditions."""

from __future__ import annotations

from typing import Any, Protocol

from fhir_server.errors import FhirError, Invalid, NotSupported, TooLarge
from fhir_server.search.index_types import token
from fhir_server.search.index_types.common import split_escaped, unescape

MODIFIERS = frozenset({"in", "not-in", "above", "below"})
# More codes than this in one search value asks the client for a smaller value set.
MAX_CODES = 10_000


class CodeSets(Protocol):
    """What the search needs of the terminology service (``terminology.TerminologyService``)."""

    def value_set_codes(self, valueset_url: str) -> frozenset[tuple[str, str]]: ...

    def descendants(self, system: str, code: str) -> frozenset[str]: ...

    def ancestors(self, system: str, code: str) -> frozenset[str]: ...


def query(path: str, value: str, modifier: str, codes: CodeSets | None) -> dict[str, Any]:
    if codes is None:
        raise NotSupported(f"Token modifier :{modifier} needs a terminology service")
    text = unescape(value)
    try:
        if modifier in ("in", "not-in"):
            pairs = codes.value_set_codes(text)
        else:
            system, code = _system_code(text, modifier)
            related = (
                codes.descendants(system, code)
                if modifier == "below"
                else codes.ancestors(system, code)
            )
            pairs = frozenset((system, c) for c in {code, *related})
    except FhirError as error:
        if isinstance(error, Invalid):
            raise
        raise Invalid(f":{modifier}: {error.message}") from None
    if len(pairs) > MAX_CODES:
        raise TooLarge(
            f":{modifier}={value[:80]} stands for {len(pairs)} codes, more than {MAX_CODES}",
            status=400,
        )
    return token.codes_filter(path, pairs, negate=modifier == "not-in")


def _system_code(text: str, modifier: str) -> tuple[str, str]:
    parts = split_escaped(text, "|")
    if len(parts) != 2 or not all(parts):
        raise Invalid(f":{modifier} takes system|code, not {text[:60]!r}")
    return parts[0], parts[1]
