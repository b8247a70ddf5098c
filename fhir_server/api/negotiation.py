"""Content negotiation and the HTTP headers of FHIR: media types, _format, _pretty, Prefer,
ETag / If-Match / If-None-Match, Last-Modified / If-Modified-Since."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from starlette.requests import Request

from fhir_server.errors import FhirError, Invalid

FHIR_JSON = "application/fhir+json"
PLAIN_JSON = "application/json"
FHIR_XML = "application/fhir+xml"
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"

_FORMAT_ALIASES = {
    "json": FHIR_JSON,
    FHIR_JSON: FHIR_JSON,
    PLAIN_JSON: PLAIN_JSON,
    "text/json": PLAIN_JSON,
}
_XML = ("xml", "application/fhir+xml", "application/xml", "text/xml", "html", "text/html")
_ETAG = re.compile(r'^\s*(?:W/)?"?([0-9]{1,12})"?\s*$')


class NotAcceptable(FhirError):
    def __init__(self, message: str) -> None:
        super().__init__(message, [], 406, "not-supported")


class UnsupportedMediaType(FhirError):
    def __init__(self, message: str) -> None:
        super().__init__(message, [], 415, "not-supported")


def response_media_type(request: Request) -> str:
    """The JSON flavour to answer in; XML and other formats are refused with 406."""
    fmt = request.query_params.get("_format")
    if fmt is not None:
        media = _FORMAT_ALIASES.get(fmt.strip().lower())
        if media is None:
            raise NotAcceptable(_only_json(f"_format={fmt[:40]}"))
        return media
    accept = request.headers.get("accept")
    if not accept:
        return FHIR_JSON
    offered = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    if any(m in (FHIR_JSON, "*/*", "application/*", "application/fhir+*") for m in offered):
        return FHIR_JSON
    if PLAIN_JSON in offered or "text/json" in offered:
        return PLAIN_JSON
    raise NotAcceptable(_only_json(f"Accept: {accept[:80]}"))


def binary_media_type(request: Request) -> str | None:
    """A Binary read (FHIR http.html#binary): the resource in the FHIR format asked for
    explicitly, by ``_format`` or by a FHIR type in Accept; None: its content as itself
    (an image, a PDF, a browser's ``*/*``, no Accept at all)."""
    if request.query_params.get("_format") is not None:
        return response_media_type(request)
    accept = request.headers.get("accept") or ""
    offered = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    # A browser's Accept lists text/html and application/xml: not a FHIR format.
    if offered & {FHIR_JSON, PLAIN_JSON, "text/json", "application/fhir+*", FHIR_XML}:
        return response_media_type(request)  # fhir+xml: refused there, as for any resource
    return None


def request_media_type(request: Request, allowed: tuple[str, ...] = (FHIR_JSON, PLAIN_JSON)) -> str:
    """The body's media type; a missing Content-Type is read as FHIR JSON."""
    header = request.headers.get("content-type")
    if not header:
        return FHIR_JSON
    media = header.split(";")[0].strip().lower()
    if media not in allowed:
        raise UnsupportedMediaType(
            f"Content-Type {media[:60]!r} is not supported here; send one of: {', '.join(allowed)}"
        )
    return media


def _only_json(what: str) -> str:
    return f"{what}: this server speaks FHIR JSON only (application/fhir+json or application/json)"


def wants_pretty(request: Request) -> bool:
    return request.query_params.get("_pretty", "").lower() == "true"


def prefer_return(request: Request) -> str:
    """``minimal``, ``representation`` (the default) or ``OperationOutcome``."""
    prefer = request.headers.get("prefer", "")
    for token in prefer.split(","):
        key, _, value = token.strip().partition("=")
        if key.strip().lower() == "return":
            value = value.strip().strip('"')
            if value in ("minimal", "representation", "OperationOutcome"):
                return value
    return "representation"


def parse_version_tag(value: str | None, header: str) -> int | None:
    """``W/"3"``, ``"3"`` or ``3`` -> 3. Clients differ (fhirpy sends the bare version id)."""
    if value is None or not value.strip():
        return None
    match = _ETAG.match(value)
    if match is None:
        raise Invalid(f'{header}: {value[:40]!r} is not a version ETag such as W/"3"')
    return int(match.group(1))


def etag_matches(value: str | None, version: int) -> bool:
    """If-None-Match: a list of tags, or ``*``."""
    if value is None:
        return False
    for tag in value.split(","):
        tag = tag.strip()
        if tag == "*":
            return True
        match = _ETAG.match(tag)
        if match is not None and int(match.group(1)) == version:
            return True
    return False


def http_date(value: datetime) -> str:
    return format_datetime(value.astimezone(UTC), usegmt=True)


def not_modified_since(value: str | None, last_updated: datetime) -> bool:
    if not value:
        return False
    try:
        since = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return last_updated.replace(microsecond=0) <= since
