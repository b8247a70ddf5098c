"""Query string -> a search request: which parameters, with which modifiers and values.

A repeated parameter is AND; commas inside one value are OR (``\\,`` is a literal comma).
Chains (``subject:Patient.name=x``, several levels) and reverse chains
(``_has:Observation:subject:code=x``, nested) become clauses holding the clause they apply on
the other resource type. Parameters this server does not know or cannot apply are ignored (and
left out of the ``self`` link), unless the client asked for ``Prefer: handling=strict``: then
they are a 400.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from fhir_server.errors import Invalid
from fhir_server.model.resource_types import supported_types
from fhir_server.search.definitions import SearchParam
from fhir_server.search.sorting import SPECIAL as SPECIAL_SORTS
from fhir_server.search.sorting import sortable

FORMAT_PARAMS = frozenset({"_format", "_pretty"})
MODIFIER_TYPES = frozenset({"missing", "exact", "contains", "text", "not", "above", "below",
                            "in", "not-in", "of-type", "identifier"})  # fmt: skip
MAX_SORT_KEYS = 3
TOTALS = frozenset({"none", "estimate", "accurate"})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,63}")
_TYPE = re.compile(r"[A-Z][A-Za-z]{1,63}")
_SPLIT_COMMA = re.compile(r"(?<!\\),")
MAX_CHAIN_DEPTH = 4

# Looks up the search parameters of a resource type (None when the type is not served).
ParamsOf = Callable[[str], dict[str, SearchParam] | None]


class Unknown(Exception):
    """A parameter this server does not apply (ignored unless handling=strict)."""


@dataclass(frozen=True)
class Clause:
    """``code[:modifier]=v1,v2`` (values OR-ed), or a chain through a reference parameter:
    ``code[:Type].<inner>``, where ``inner`` is applied to the referenced resources."""

    param: SearchParam
    modifier: str | None
    values: tuple[str, ...]
    chain: Clause | Has | None = None
    chain_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class Has:
    """``_has:Type:ref:<inner>``: resources referenced through ``ref`` by a ``Type`` resource
    that matches ``inner``."""

    source_type: str
    reference: SearchParam
    inner: Clause | Has


@dataclass(frozen=True)
class Include:
    """``_include=Source:param[:Target]`` or ``_revinclude=Source:param[:Target]``."""

    source_type: str
    param: SearchParam
    target_type: str | None
    reverse: bool
    iterate: bool = False
    given: str | None = None  # the wildcard it was expanded from ("*", "Type:*")

    @property
    def text(self) -> tuple[str, str]:
        name = ("_revinclude" if self.reverse else "_include") + (
            ":iterate" if self.iterate else ""
        )
        if self.given is not None:
            return name, self.given
        tail = f":{self.target_type}" if self.target_type else ""
        return name, f"{self.source_type}:{self.param.code}{tail}"


@dataclass(frozen=True)
class SortKey:
    code: str
    descending: bool


@dataclass(frozen=True)
class SearchRequest:
    rtype: str
    clauses: tuple[tuple[str, Clause | Has], ...]  # (name as sent, clause)
    count: int
    sort: tuple[SortKey, ...] = ()
    cursor: str | None = None
    total: str = "none"
    summary: str = "false"  # true, text, data, count or false
    elements: tuple[str, ...] = ()
    includes: tuple[Include, ...] = ()
    explain: bool = False
    ignored: tuple[str, ...] = field(default=())

    @property
    def summary_count(self) -> bool:
        return self.summary == "count"

    def applied_params(self) -> list[tuple[str, str]]:
        """What the ``self`` link shows: the parameters actually applied."""
        out = [(name, _values_text(clause)) for name, clause in self.clauses]
        out += list(dict.fromkeys(include.text for include in self.includes))
        if self.sort:
            out.append(
                ("_sort", ",".join(("-" if k.descending else "") + k.code for k in self.sort))
            )
        if self.elements:
            out.append(("_elements", ",".join(self.elements)))
        if self.total != "none":
            out.append(("_total", self.total))
        if self.summary != "false":
            out.append(("_summary", self.summary))
        out.append(("_count", str(self.count)))
        return out


def parse_search(
    rtype: str,
    params: list[tuple[str, str]],
    params_of: ParamsOf,
    *,
    strict: bool,
    default_count: int,
    max_count: int,
) -> SearchRequest:
    known = params_of(rtype) or {}
    clauses: list[tuple[str, Clause | Has]] = []
    ignored: list[str] = []
    result: dict[str, object] = {"count": default_count}
    includes: list[Include] = []
    for name, value in params:
        try:
            if name in FORMAT_PARAMS:
                continue
            if name == "_cursor":
                result["cursor"] = value
            elif name == "_count":
                result["count"] = _count(value, max_count)
            elif name == "_sort":
                result["sort"] = _sort(value, known)
            elif name == "_total":
                result["total"] = _total(value)
            elif name == "_summary":
                result["summary"] = _summary(value)
            elif name == "_elements":
                result["elements"] = _elements(value)
            elif name == "_explain":
                result["explain"] = value == "true"
            elif name in ("_include", "_revinclude", "_include:iterate", "_revinclude:iterate"):
                includes += _includes(rtype, name, value, params_of)
            else:
                clauses.append((name, _clause(name, value, known, params_of, 0)))
        except Unknown as unknown:
            if strict:
                raise Invalid(f"{name[:80]}: {unknown}") from None
            ignored.append(name[:80])
    if result.get("elements") and result.get("summary", "false") not in ("false", "count"):
        raise Invalid("_summary and _elements cannot be used together")
    return SearchRequest(
        rtype,
        tuple(clauses),
        count=int(result["count"]),  # type: ignore[call-overload]
        sort=result.get("sort", ()),  # type: ignore[arg-type]
        cursor=result.get("cursor"),  # type: ignore[arg-type]
        total=str(result.get("total", "none")),
        summary=str(result.get("summary", "false")),
        elements=result.get("elements", ()),  # type: ignore[arg-type]
        includes=tuple(includes),
        explain=bool(result.get("explain", False)),
        ignored=tuple(ignored),
    )


def _clause(
    name: str, value: str, known: dict[str, SearchParam], params_of: ParamsOf, depth: int
) -> Clause | Has:
    if depth > MAX_CHAIN_DEPTH:
        raise Invalid(f"Chains may be at most {MAX_CHAIN_DEPTH} levels deep")
    if name.startswith("_has:"):
        return _has(name, value, params_of, depth)
    head, dot, rest = name.partition(".")
    code, _, modifier = head.partition(":")
    if not _NAME.fullmatch(code):
        raise Unknown("not a search parameter name")
    param = known.get(code)
    if param is None:
        raise Unknown("not a search parameter of this resource type")
    if dot:
        return _chain(param, modifier, rest, value, params_of, depth)
    type_modifier = param.type == "reference" and modifier in param.targets
    if modifier and modifier not in MODIFIER_TYPES and not type_modifier:
        raise Invalid(f"Modifier {modifier[:40]!r} is not valid for {param.type} parameter {code}")
    values = tuple(v.replace("\\,", ",") for v in _SPLIT_COMMA.split(value))
    if any(v == "" for v in values):
        raise Invalid(f"Search parameter {code} has an empty value")
    return Clause(param, modifier or None, values)


def _chain(
    param: SearchParam, modifier: str, rest: str, value: str, params_of: ParamsOf, depth: int
) -> Clause:
    if param.type != "reference":
        raise Invalid(f"{param.code} is not a reference parameter: it cannot be chained")
    if modifier and modifier not in param.targets:
        raise Invalid(f"{param.code} does not refer to {modifier[:40]!r}")
    inner_name = rest.partition(".")[0].partition(":")[0]
    candidates = (modifier,) if modifier else param.targets
    types = tuple(t for t in candidates if inner_name in (params_of(t) or {}))
    if not types:
        raise Unknown(f"no type that {param.code} refers to has a parameter {inner_name!r}")
    # Parse the inner clause once; its parameter definition is the same on every target type
    # for the common parameters (name, identifier, ...).
    inner = _clause(rest, value, params_of(types[0]) or {}, params_of, depth + 1)
    return Clause(param, modifier or None, (), chain=inner, chain_types=types)


def _has(name: str, value: str, params_of: ParamsOf, depth: int) -> Has:
    parts = name.split(":", 3)
    if len(parts) != 4 or not _TYPE.fullmatch(parts[1]):
        raise Invalid("_has takes the form _has:Type:reference:parameter=value")
    _, source_type, ref_code, inner_name = parts
    source_params = params_of(source_type)
    if source_params is None:
        raise Unknown(f"{source_type!r} is not a resource type served here")
    reference = source_params.get(ref_code)
    if reference is None or reference.type != "reference":
        raise Invalid(f"_has: {ref_code[:40]!r} is not a reference parameter of {source_type}")
    inner = _clause(inner_name, value, source_params, params_of, depth + 1)
    return Has(source_type, reference, inner)


def _includes(rtype: str, name: str, value: str, params_of: ParamsOf) -> list[Include]:
    """One ``_include``/``_revinclude`` value; ``*`` (``_include=*``, ``Type:*``) stands for
    every reference parameter of the source type; ``_revinclude=*`` for every reference
    parameter of any type that can refer to the searched type."""
    reverse = name.startswith("_revinclude")
    if value != "*" and not value.endswith(":*"):
        return [_include(rtype, name, value, params_of)]
    if value == "*" and reverse:
        sources = sorted(supported_types())
    else:
        sources = [rtype if value == "*" else value[:-2]]
    found: list[Include] = []
    for source_type in sources:
        source_params = params_of(source_type) if _TYPE.fullmatch(source_type) else None
        if source_params is None:
            raise Unknown(f"{source_type[:40]!r} is not a resource type served here")
        for code, param in sorted(source_params.items()):
            if param.type != "reference" or code.startswith("_"):
                continue
            if reverse and rtype not in param.targets:
                continue
            include = _include(rtype, name, f"{source_type}:{code}", params_of)
            found.append(dataclasses.replace(include, given=value))
    return found


def _include(rtype: str, name: str, value: str, params_of: ParamsOf) -> Include:
    reverse = name.startswith("_revinclude")
    iterate = name.endswith(":iterate")
    parts = value.split(":")
    if len(parts) not in (2, 3) or not _TYPE.fullmatch(parts[0]):
        raise Invalid(f"{name} takes the form Type:parameter[:TargetType]")
    source_type, code = parts[0], parts[1]
    target = parts[2] if len(parts) == 3 else None
    if not reverse and not iterate and source_type != rtype:
        raise Invalid(f"_include={value[:60]}: the source type must be {rtype}")
    source_params = params_of(source_type)
    if source_params is None:
        raise Unknown(f"{source_type!r} is not a resource type served here")
    param = source_params.get(code)
    if param is None or param.type != "reference":
        raise Invalid(f"{name}: {code[:40]!r} is not a reference parameter of {source_type}")
    if target is not None and target not in param.targets:
        raise Invalid(f"{name}: {source_type}.{code} does not refer to {target[:40]!r}")
    return Include(source_type, param, target, reverse, iterate)


def _values_text(clause: Clause | Has) -> str:
    while not isinstance(clause, Clause) or clause.chain is not None:
        clause = clause.inner if isinstance(clause, Has) else clause.chain  # type: ignore[assignment]
    return ",".join(v.replace(",", "\\,") for v in clause.values)


def _count(value: str, max_count: int) -> int:
    if not value.isdigit() or len(value) > 9:
        raise Invalid(f"_count: {value[:20]!r} is not a non-negative integer")
    return min(int(value), max_count)


def _sort(value: str, known: dict[str, SearchParam]) -> tuple[SortKey, ...]:
    keys: list[SortKey] = []
    for part in value.split(","):
        descending = part.startswith("-")
        code = part.removeprefix("-")
        param = known.get(code)
        if code not in SPECIAL_SORTS and (param is None or not sortable(param)):
            raise Invalid(
                f"_sort: {code[:40]!r} is not a sortable search parameter of this type "
                "(composite and special parameters are not sortable; _id and _lastUpdated are)"
            )
        if any(key.code == code for key in keys):
            raise Invalid(f"_sort: {code[:40]!r} is given twice")
        keys.append(SortKey(code, descending))
    if len(keys) > MAX_SORT_KEYS:
        raise Invalid(f"_sort: at most {MAX_SORT_KEYS} keys")
    return tuple(keys)


def _total(value: str) -> str:
    if value not in TOTALS:
        raise Invalid(f"_total: {value[:20]!r} is not one of none, estimate, accurate")
    return value


def _summary(value: str) -> str:
    if value in ("true", "text", "data", "count", "false"):
        return value
    raise Invalid(f"_summary: {value[:20]!r} is not one of true, text, data, count, false")


def _elements(value: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in value.split(",") if name.strip())
    for name in names:
        if not _NAME.fullmatch(name):
            raise Invalid(f"_elements: {name[:40]!r} is not an element name")
    return names
