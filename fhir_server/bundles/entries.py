"""A bundle's entries as requests: method, target type, id or condition, resource."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fhir_server.errors import Invalid, NotSupported, TooLarge
from fhir_server.model.ids import check_id
from fhir_server.model.resource_types import supported_types

METHODS = ("DELETE", "POST", "PUT", "PATCH", "GET", "HEAD")
# The spec's processing order for a transaction.
ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
_URL = re.compile(r"(?P<type>[A-Z][A-Za-z]{1,63})(?:/(?P<id>[^/?]+))?(?:\?(?P<query>.*))?")


@dataclass
class Entry:
    index: int  # position in the bundle, for messages and the response's order
    method: str
    rtype: str
    rid: str | None
    query: str | None  # a conditional request's search (``identifier=x``), or a GET's
    full_url: str | None
    resource: dict[str, Any] | None
    if_none_exist: str | None
    if_match: int | None

    @property
    def is_search(self) -> bool:
        return self.method in ("GET", "HEAD") and self.rid is None

    @property
    def label(self) -> str:
        target = self.rtype + (f"/{self.rid}" if self.rid else "")
        return f"entry[{self.index}] ({self.method} {target})"


def parse_entries(bundle: dict[str, Any], max_entries: int) -> list[Entry]:
    raw = bundle.get("entry", [])
    if not isinstance(raw, list):
        raise Invalid("Bundle.entry must be a list")
    if len(raw) > max_entries:
        raise TooLarge(f"The bundle has {len(raw)} entries; at most {max_entries} are accepted")
    return [_entry(index, item) for index, item in enumerate(raw)]


def _entry(index: int, item: Any) -> Entry:
    where = f"entry[{index}]"
    if not isinstance(item, dict) or not isinstance(item.get("request"), dict):
        raise Invalid(f"{where}: each entry needs a request (method and url)")
    request = item["request"]
    method, url = request.get("method"), request.get("url")
    if method not in METHODS or not isinstance(url, str) or not url:
        raise Invalid(f"{where}: request.method must be one of {', '.join(METHODS)}, with a url")
    match = _URL.fullmatch(url.strip().lstrip("/"))
    if match is None or match["type"] not in supported_types():
        raise Invalid(f"{where}: request.url {url[:80]!r} is not Type, Type/id or Type?search")
    rid = check_id(match["id"]) if match["id"] else None
    resource = item.get("resource")
    if resource is not None and not isinstance(resource, dict):
        raise Invalid(f"{where}: resource must be a JSON object")
    if method in ("POST", "PUT") and resource is None:
        raise Invalid(f"{where}: {method} needs a resource")
    wrong_type = resource is not None and resource.get("resourceType") != match["type"]
    if method in ("POST", "PUT") and wrong_type:
        raise Invalid(f"{where}: the resource is not a {match['type']}")
    if method == "POST" and (rid or match["query"]):
        raise Invalid(f"{where}: POST takes the type alone (Type), not {url[:80]!r}")
    if method in ("PUT", "PATCH", "DELETE") and not (rid or match["query"]):
        raise Invalid(f"{where}: {method} needs Type/id or Type?search")
    if method == "PATCH" and resource is None:
        raise Invalid(f"{where}: PATCH needs a resource (a Parameters or a Binary)")
    if method in ("GET", "HEAD") and rid and match["query"]:
        raise NotSupported(f"{where}: a read takes no parameters ({url[:80]!r})")
    full_url = item.get("fullUrl")
    return Entry(
        index,
        method,
        match["type"],
        rid,
        _query(method, rid, match["query"]),
        full_url if isinstance(full_url, str) and full_url else None,
        resource,
        _text(request.get("ifNoneExist")),
        _version(request.get("ifMatch"), where),
    )


def _query(method: str, rid: str | None, query: str | None) -> str | None:
    """A search entry (``GET Type`` alone too) always has a query, an empty one at least."""
    if method in ("GET", "HEAD") and rid is None:
        return query or ""
    return query


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _version(value: Any, where: str) -> int | None:
    if value is None:
        return None
    found = re.fullmatch(r'(?:W/)?"?(\d{1,9})"?', str(value).strip())
    if found is None:
        raise Invalid(f"{where}: ifMatch {str(value)[:40]!r} is not a version ETag")
    return int(found[1])
