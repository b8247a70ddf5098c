"""History bundles and their paging links."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.requests import Request

from fhir_server.api.context import FHIR_PATH
from fhir_server.errors import Invalid
from fhir_server.model.datetimes import datetime_range
from fhir_server.storage.history import Cursor, HistoryPage, HistoryQuery
from fhir_server.storage.versions import Version, instant

CURSOR_PARAM = "_cursor"


def history_query(
    request: Request, rtype: str | None, rid: str | None, default_count: int, max_count: int
) -> HistoryQuery:
    params = request.query_params
    count = default_count
    if "_count" in params:
        text = params["_count"]
        if not text.isdigit() or len(text) > 9:
            raise Invalid(f"_count: {text[:20]!r} is not a non-negative integer")
        count = max(1, min(int(text), max_count))
    since = datetime_range(params["_since"], "_since")[0] if "_since" in params else None
    at = datetime_range(params["_at"], "_at") if "_at" in params else None
    after = decode_cursor(params[CURSOR_PARAM]) if CURSOR_PARAM in params else None
    return HistoryQuery(rtype, rid, since, at, count, after)


def encode_cursor(cursor: Cursor) -> str:
    ts, rtype, rid, version = cursor
    raw = orjson.dumps([round(ts.timestamp() * 1000), rtype, rid, version])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        ms, rtype, rid, version = orjson.loads(raw)
        if not (
            isinstance(ms, int)
            and isinstance(rtype, str)
            and isinstance(rid, str)
            and isinstance(version, int)
        ):
            raise ValueError
        return datetime.fromtimestamp(ms / 1000, UTC), rtype, rid, version
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise Invalid(f"{CURSOR_PARAM}: not a paging cursor issued by this server") from None


def history_bundle(request: Request, base: str, page: HistoryPage) -> bytes:
    self_url = _page_url(request, base, None)
    links = [{"relation": "self", "url": self_url}]
    if page.next is not None:
        links.append({"relation": "next", "url": _page_url(request, base, page.next)})
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "history",
        "timestamp": instant(datetime.now(UTC)),
        "link": links,
        "entry": [_entry(base, version) for version in page.versions],
    }
    return orjson.dumps(bundle)


def _entry(base: str, version: Version) -> dict[str, Any]:
    ref = f"{version.rtype}/{version.id}"
    if version.deleted:
        method, url, status = "DELETE", ref, "204 No Content"
    elif version.version == 1:
        method, url, status = "POST", version.rtype, "201 Created"
    else:
        method, url, status = ("PATCH" if version.patched else "PUT"), ref, "200 OK"
    entry: dict[str, Any] = {"fullUrl": f"{base}/{ref}"}
    if version.body is not None:
        entry["resource"] = orjson.Fragment(version.body)
    entry["request"] = {"method": method, "url": url}
    entry["response"] = {
        "status": status,
        "etag": version.etag,
        "lastModified": instant(version.last_updated),
    }
    return entry


def _page_url(request: Request, base: str, cursor: Cursor | None) -> str:
    fhir_path = request.url.path.removeprefix(request.scope.get("root_path", ""))
    fhir_path = fhir_path.removeprefix(FHIR_PATH)
    params = [(k, v) for k, v in request.query_params.multi_items() if k != CURSOR_PARAM]
    if cursor is not None:
        params.append((CURSOR_PARAM, encode_cursor(cursor)))
    query = f"?{urlencode(params)}" if params else ""
    return f"{base}{fhir_path}{query}"
