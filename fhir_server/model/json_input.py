"""JSON at the edge: parse request bodies, keep decimal precision, reject hostile shapes.

FHIR decimals carry their precision in their text (``72.50`` is not ``72.5``), and Python floats
drop it. Bodies that may hold decimals are therefore parsed a second time with ``Decimal``; the
Decimal tree is what we serialize back out, the float tree is what MongoDB stores and searches.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import orjson

from fhir_server.errors import Invalid, Issue

# Every key in FHIR JSON is an element name (or `_name` for primitive extensions). Anything else
# is either an error or an attempt to smuggle MongoDB operators (`$where`) or dotted paths.
ELEMENT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
# A number token with a fraction or an exponent (the only ones floats can misrepresent): after
# `:`, `[` or `,` and followed by `,`, `]` or `}`, so that instants ("09:15:00.123Z") and OIDs
# ("urn:oid:2.16.840") inside strings do not cost a second parse. A rare false positive only
# costs time.
MAYBE_DECIMAL = re.compile(
    rb"[:\[,]\s*-?[0-9]+(?:\.[0-9]+(?:[eE][-+]?[0-9]+)?|[eE][-+]?[0-9]+)\s*[,\]}]"
)

JsonObject = dict[str, Any]


def parse_json(body: bytes) -> Any:
    """Parse a request body; decimals come back as ``Decimal`` when the body may hold any."""
    try:
        tree = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Invalid(f"The body is not valid JSON: {exc}") from None
    if MAYBE_DECIMAL.search(body):
        tree = json.loads(body, parse_float=Decimal)
    return tree


def parse_resource(body: bytes) -> JsonObject:
    tree = parse_json(body)
    if not isinstance(tree, dict):
        raise Invalid("The body must be a JSON object holding a FHIR resource.")
    return tree


def dumps(value: Any, *, pretty: bool = False) -> bytes:
    """Serialize, writing Decimals with their original digits."""
    option = orjson.OPT_INDENT_2 if pretty else 0
    return orjson.dumps(value, default=_decimal_text, option=option)


def _decimal_text(value: object) -> orjson.Fragment:
    if isinstance(value, Decimal):
        return orjson.Fragment(str(value).encode())
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def check_shape(resource: JsonObject, max_depth: int) -> bool:
    """Reject disallowed keys and over-deep nesting. Returns whether any Decimal was seen."""
    issues: list[Issue] = []
    has_decimal = _walk(resource, str(resource.get("resourceType", "")), 0, max_depth, issues)
    if issues:
        raise Invalid(issues[0].diagnostics, issues[:20])
    return has_decimal


def _walk(node: Any, path: str, depth: int, max_depth: int, issues: list[Issue]) -> bool:
    if depth > max_depth:
        issues.append(
            Issue("too-costly", f"JSON nested deeper than {max_depth} levels", expression=(path,))
        )
        return False
    found = False
    if isinstance(node, dict):
        for key, value in node.items():
            if not ELEMENT_NAME.fullmatch(key):
                issues.append(
                    Issue(
                        "structure",
                        f"{key!r} is not a valid element name (element names are letters, "
                        "digits and '_'; '$' and '.' are never allowed)",
                        expression=(path,),
                    )
                )
                continue
            if isinstance(value, dict | list):
                found |= _walk(value, f"{path}.{key}", depth + 1, max_depth, issues)
            elif isinstance(value, Decimal):
                found = True
    elif isinstance(node, list):
        for index, value in enumerate(node):
            if isinstance(value, dict | list):
                found |= _walk(value, f"{path}[{index}]", depth + 1, max_depth, issues)
            elif isinstance(value, Decimal):
                found = True
    return found


def to_plain(node: Any) -> Any:
    """A copy with Decimals turned into floats, for MongoDB and the model validator."""
    if isinstance(node, dict):
        return {key: to_plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [to_plain(value) for value in node]
    if isinstance(node, Decimal):
        return float(node)
    return node
