"""The edge of the HTTP API: request size limits and URL normalization, before any routing."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from fhir_server.api.errors import outcome_response
from fhir_server.errors import Issue, TooLarge

_SLASHES = re.compile(r"/{2,}")


class EdgeMiddleware:
    """Refuses oversized query strings (414) and announced oversized bodies (413); accepts FHIR
    base URLs with or without a trailing slash (``//Patient``, ``/Patient/``)."""

    def __init__(
        self,
        app: ASGIApp,
        max_query_bytes: int,
        max_body_bytes: int,
        body_limits: dict[str, int] | None = None,
    ) -> None:
        """``body_limits``: paths with a limit of their own (scan uploads: the route streams
        them to disk and checks its limit as they come)."""
        self.app = app
        self.max_query_bytes = max_query_bytes
        self.max_body_bytes = max_body_bytes
        self.body_limits = body_limits or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if len(scope.get("query_string", b"")) > self.max_query_bytes:
            text = f"The query string is longer than {self.max_query_bytes} bytes"
            await outcome_response(414, [Issue("too-costly", text)])(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name != b"content-length":
                continue
            if not value.isdigit():
                text = "Content-Length must be a number of bytes"
                await outcome_response(400, [Issue("invalid", text)])(scope, receive, send)
                return
            limit = self.body_limits.get(scope["path"], self.max_body_bytes)
            if int(value) > limit:
                text = f"The request body is larger than {limit} bytes"
                await outcome_response(413, [Issue("too-costly", text)])(scope, receive, send)
                return
        path: str = scope["path"]
        if "//" in path or (len(path) > 1 and path.endswith("/")):
            normalized = _SLASHES.sub("/", path)
            if len(normalized) > 1:
                normalized = normalized.rstrip("/")
            scope = {**scope, "path": normalized, "raw_path": normalized.encode()}
        await self.app(scope, receive, send)


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing (413) once it passes ``limit`` bytes: chunked bodies announce no
    length, so the limit is enforced while reading."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"The request body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
