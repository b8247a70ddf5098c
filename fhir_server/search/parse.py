"""Query string -> a search request: which parameters, with which modifiers and values.

A repeated parameter is AND; commas inside one value are OR (``\\,`` is a literal comma).
Parameters this server does not know or cannot apply are ignored (and left out of the
``self`` link), unless the client asked for ``Prefer: handling=strict``: then they are a 400.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from fhir_server.errors import Invalid
from fhir_server.search.definitions import SearchParam

# Result parameters we apply; everything else starting with "_" is a search parameter or an
# unsupported result parameter.
PAGING_PARAMS = frozenset({"_count", "_sort", "_cursor"})
FORMAT_PARAMS = frozenset({"_format", "_pretty"})
MODIFIER_TYPES = frozenset({"missing", "exact", "contains", "text", "not", "above", "below",
                            "in", "not-in", "of-type", "identifier"})  # fmt: skip
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,63}")
_SPLIT_COMMA = re.compile(r"(?<!\\),")


@dataclass(frozen=True)
class Clause:
    """One parameter occurrence: ``code[:modifier]=v1,v2`` (the values are OR-ed)."""

    param: SearchParam
    modifier: str | None
    values: tuple[str, ...]

    @property
    def text(self) -> tuple[str, str]:
        name = f"{self.param.code}:{self.modifier}" if self.modifier else self.param.code
        return name, ",".join(v.replace(",", "\\,") for v in self.values)


@dataclass(frozen=True)
class SortKey:
    code: str
    descending: bool


@dataclass(frozen=True)
class SearchRequest:
    rtype: str
    clauses: tuple[Clause, ...]
    count: int
    sort: tuple[SortKey, ...]
    cursor: str | None
    ignored: tuple[str, ...] = field(default=())

    def applied_params(self) -> list[tuple[str, str]]:
        """What the ``self`` link shows: the parameters actually applied."""
        out = [clause.text for clause in self.clauses]
        if self.sort:
            out.append(
                ("_sort", ",".join(("-" if k.descending else "") + k.code for k in self.sort))
            )
        out.append(("_count", str(self.count)))
        return out


SORTABLE = frozenset({"_id", "_lastUpdated"})


def parse_search(
    rtype: str,
    params: list[tuple[str, str]],
    known: dict[str, SearchParam],
    *,
    strict: bool,
    default_count: int,
    max_count: int,
) -> SearchRequest:
    clauses: list[Clause] = []
    ignored: list[str] = []
    count = default_count
    sort: tuple[SortKey, ...] = ()
    cursor: str | None = None
    for name, value in params:
        if name in FORMAT_PARAMS:
            continue
        if name == "_count":
            count = _count(value, max_count)
        elif name == "_sort":
            sort = _sort(value)
        elif name == "_cursor":
            cursor = value
        else:
            clause = _clause(name, value, known)
            if clause is None:
                if strict:
                    raise Invalid(f"Search parameter {name[:80]!r} is not supported for {rtype}")
                ignored.append(name[:80])
            else:
                clauses.append(clause)
    return SearchRequest(rtype, tuple(clauses), count, sort, cursor, tuple(ignored))


def _clause(name: str, value: str, known: dict[str, SearchParam]) -> Clause | None:
    code, _, modifier = name.partition(":")
    if not _NAME.fullmatch(code) or "." in code:
        return None  # chains (a.b) and reverse chains (_has) come with the chaining work
    param = known.get(code)
    if param is None or param.type in ("special",):
        return None
    type_modifier = param.type == "reference" and modifier in param.targets
    if modifier and modifier not in MODIFIER_TYPES and not type_modifier:
        raise Invalid(f"Modifier {modifier[:40]!r} is not valid for {param.type} parameter {code}")
    values = tuple(v.replace("\\,", ",") for v in _SPLIT_COMMA.split(value))
    if any(v == "" for v in values) and modifier != "missing":
        raise Invalid(f"Search parameter {code} has an empty value")
    return Clause(param, modifier or None, values)


def _count(value: str, max_count: int) -> int:
    if not value.isdigit() or len(value) > 9:
        raise Invalid(f"_count: {value[:20]!r} is not a non-negative integer")
    return min(int(value), max_count)


def _sort(value: str) -> tuple[SortKey, ...]:
    keys = []
    for part in value.split(","):
        descending = part.startswith("-")
        code = part.removeprefix("-")
        if code not in SORTABLE:
            sortable = ", ".join(sorted(SORTABLE))
            raise Invalid(f"_sort: {code[:40]!r} is not sortable here (sortable: {sortable})")
        keys.append(SortKey(code, descending))
    return tuple(keys)
