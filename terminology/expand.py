"""ValueSet/$expand: the members of a value set, optionally narrowed by a text filter, paged
(offset/count), with displays in a requested language where designations provide one."""

from __future__ import annotations

import re
import uuid
from bisect import bisect_left
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fhir_server.errors import Invalid, TooLarge
from terminology.compose import Member
from terminology.operations import Inputs, OperationDefinition, Param

if TYPE_CHECKING:
    from terminology.service import TerminologyService

JsonObject = dict[str, Any]
# An unpaged expansion larger than this is refused (too-costly): page it with count/offset.
MAX_EXPANSION = 10_000
_WORDS = re.compile(r"[^\W_]+")
# ValueSet elements copied to the expansion result; compose is left out (it can be large).
_HEADER = (
    "id",
    "url",
    "identifier",
    "version",
    "name",
    "title",
    "status",
    "experimental",
    "publisher",
    "description",
    "copyright",
)

DEFINITION = OperationDefinition(
    resource="ValueSet",
    code="expand",
    description="The list of codes in a value set, optionally filtered and paged.",
    inputs=(
        Param("url", "uri", doc="The value set (canonical URL)"),
        Param("valueSet", "Resource", doc="The value set itself (POST only)"),
        Param("valueSetVersion", "string", doc="The version of the value set"),
        Param(
            "filter",
            "string",
            doc="Text: each word starts a word of the display or a designation; or the text "
            "starts the code",
        ),
        Param("date", "dateTime", doc="Accepted and ignored: only current definitions are held"),
        Param("offset", "integer", doc="Paging: members to skip"),
        Param("count", "integer", doc="Paging: members to return"),
        Param("includeDesignations", "boolean", doc="Return each member's designations"),
        Param("includeDefinition", "boolean", doc="Return the value set's compose too"),
        Param("activeOnly", "boolean", doc="Leave out inactive codes"),
        Param("excludeNested", "boolean", doc="Accepted: expansions are always flat"),
        Param("displayLanguage", "code", doc="The language of the displays returned"),
    ),
    outputs=(Param("return", "ValueSet", 1, doc="The value set with its expansion"),),
)


@dataclass(frozen=True, slots=True)
class Expansion:
    value_set: JsonObject
    total: int
    offset: int
    members: list[Member]
    parameters: list[JsonObject]
    display_language: str | None = None
    include_designations: bool = False
    include_definition: bool = False

    def to_value_set(self) -> JsonObject:
        out: JsonObject = {"resourceType": "ValueSet"}
        out.update((k, self.value_set[k]) for k in _HEADER if k in self.value_set)
        if self.include_definition and "compose" in self.value_set:
            out["compose"] = self.value_set["compose"]
        expansion: JsonObject = {
            "identifier": f"urn:uuid:{uuid.uuid4()}",
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "total": self.total,
        }
        if self.offset:
            expansion["offset"] = self.offset
        if self.parameters:
            expansion["parameter"] = self.parameters
        expansion["contains"] = [self._entry(m) for m in self.members]
        out["expansion"] = expansion
        return out

    def _entry(self, member: Member) -> JsonObject:
        entry: JsonObject = {"system": member.system}
        if member.version:
            entry["version"] = member.version
        if member.abstract:
            entry["abstract"] = True
        if member.inactive:
            entry["inactive"] = True
        entry["code"] = member.code
        concept = member.concept
        display = (concept.display_in(self.display_language) if concept else None) or member.display
        if display:
            entry["display"] = display
        if self.include_designations and concept is not None and concept.designations:
            entry["designation"] = [d.to_json() for d in concept.designations]
        return entry


def expand(
    service: TerminologyService,
    value_set: JsonObject,
    *,
    text: str | None = None,
    offset: int = 0,
    count: int | None = None,
    active_only: bool = False,
    display_language: str | None = None,
    include_designations: bool = False,
    include_definition: bool = False,
) -> Expansion:
    members = service.members(value_set)
    if text:
        words = [w.lower() for w in _WORDS.findall(text)]
        prefix = text.strip().lower()
        hits = service.text_index(value_set).matching(words)
        members = [
            m for i, m in enumerate(members) if i in hits or m.code.lower().startswith(prefix)
        ]
    if active_only:
        members = [m for m in members if not m.inactive]
    total = len(members)
    if count is None and total - offset > MAX_EXPANSION:
        raise TooLarge(
            f"The expansion has {total} codes; ask for pages with count (at most "
            f"{MAX_EXPANSION}) and offset",
            status=422,
        )
    page = members[offset : offset + count if count is not None else None]
    echoed: list[JsonObject] = []
    if text:
        echoed.append({"name": "filter", "valueString": text})
    if offset:
        echoed.append({"name": "offset", "valueInteger": offset})
    if count is not None:
        echoed.append({"name": "count", "valueInteger": count})
    if display_language:
        echoed.append({"name": "displayLanguage", "valueCode": display_language})
    return Expansion(
        value_set,
        total,
        offset,
        page,
        echoed,
        display_language,
        include_designations,
        include_definition,
    )


def run(service: TerminologyService, inputs: Inputs, instance: JsonObject | None) -> JsonObject:
    if instance is not None:
        value_set = instance
    elif inputs.has("valueSet"):
        value_set = inputs.get("valueSet")
        if value_set.get("resourceType") != "ValueSet":
            raise Invalid("$expand: valueSet must be a ValueSet resource")
    elif inputs.has("url"):
        value_set = service.value_set(inputs.get("url"), inputs.string("valueSetVersion"))
    else:
        raise Invalid("$expand: say which value set (url, valueSet, or /ValueSet/{id}/$expand)")
    count = inputs.get("count")
    if count is not None and count > MAX_EXPANSION:
        raise Invalid(f"$expand: count may be at most {MAX_EXPANSION}")
    return expand(
        service,
        value_set,
        text=inputs.string("filter"),
        offset=inputs.get("offset") or 0,
        count=count,
        active_only=bool(inputs.get("activeOnly")),
        display_language=inputs.string("displayLanguage"),
        include_designations=bool(inputs.get("includeDesignations")),
        include_definition=bool(inputs.get("includeDefinition")),
    ).to_value_set()


class TextIndex:
    """The words of a value set's members, sorted: a filter word finds the members with a word
    it starts by bisection instead of a scan."""

    def __init__(self, members: list[Member]) -> None:
        pairs = sorted((word, i) for i, m in enumerate(members) for word in _vocabulary(m))
        self.words = [word for word, _ in pairs]
        self.owners = [i for _, i in pairs]

    def matching(self, words: list[str]) -> set[int]:
        """Indexes of the members having, for every word, a word that starts with it."""
        result: set[int] | None = None
        for word in words:
            low = bisect_left(self.words, word)
            high = bisect_left(self.words, word + "\U0010ffff")
            found = set(self.owners[low:high])
            result = found if result is None else result & found
        return result or set()


def _vocabulary(member: Member) -> frozenset[str]:
    own = frozenset(w.lower() for w in _WORDS.findall(member.display or ""))
    return own | member.concept.words() if member.concept is not None else own
