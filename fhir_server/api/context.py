"""What a request handler needs from the app: settings, the repository, the public base URL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from starlette.convertors import StringConvertor, register_url_convertor
from starlette.requests import Request

from fhir_server.config import Settings
from fhir_server.search.codes import CodeSets
from fhir_server.storage.repository import Repository

FHIR_PATH = "/fhir"  # where the FHIR base is mounted


class SegmentConvertor(StringConvertor):
    """``{name:segment}``: one path segment that is not an operation (``$lookup``). Type and
    id routes then never take an operation's URL, so operation routes can come after them:
    every request tries the routes in order, and the common ones (read, search) come first."""

    regex = r"(?!\$)[^/]+"


register_url_convertor("segment", SegmentConvertor())


class BinaryContents(Protocol):
    """Where the bytes of a ``Binary`` stored without ``data`` are (scans: ingestion's vault),
    named by an extension on its ``_data`` whose url is ``pointer``."""

    pointer: str

    async def content(self, binary: dict[str, Any]) -> bytes | memoryview | None:
        """The plaintext, or None for a Binary this store does not hold. Raises a
        ``FhirError`` when it holds it but cannot give it back intact."""
        ...


@dataclass(frozen=True)
class Services:
    settings: Settings
    repository: Repository
    binaries: BinaryContents | None = None


def services(request: Request) -> Services:
    """The request's services, with the repository as its access token allows
    (``smart_auth.enforce.authorize`` sets them). A route without that dependency fails
    closed here."""
    found: Services | None = getattr(request.state, "services", None)
    if found is None:
        raise RuntimeError(f"{request.url.path}: a FHIR route without authorization")
    return found


def code_sets(request: Request) -> CodeSets | None:
    """The app's terminology service (token :in, :not-in, :above, :below), when it has one."""
    codes: CodeSets | None = getattr(request.app.state, "terminology", None)
    return codes


def fhir_base(request: Request) -> str:
    settings: Settings = request.app.state.services.settings
    configured = settings.base_url
    if configured:
        return configured.rstrip("/")
    return str(request.base_url).rstrip("/") + FHIR_PATH
