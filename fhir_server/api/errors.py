"""Every error leaves as an OperationOutcome with the right status: this is the one place."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pymongo.errors import ConnectionFailure
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from fhir_server.api.negotiation import FHIR_JSON
from fhir_server.errors import FhirError, Issue

log = logging.getLogger(__name__)

_HTTP_CODES = {404: "not-found", 405: "not-supported", 413: "too-costly", 414: "too-costly"}


def operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    out = []
    for issue in issues:
        entry: dict[str, Any] = {
            "severity": issue.severity,
            "code": issue.code,
            "diagnostics": issue.diagnostics,
        }
        if issue.expression:
            entry["expression"] = list(issue.expression)
        out.append(entry)
    return {"resourceType": "OperationOutcome", "issue": out}


def outcome_response(
    status: int, issues: list[Issue], headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(operation_outcome(issues)),
        status_code=status,
        media_type=FHIR_JSON,
        headers=headers,
    )


async def _fhir_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FhirError)
    return outcome_response(exc.status, exc.all_issues(), exc.headers or None)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        text = f"No FHIR interaction at {request.method} {request.url.path}"
    elif exc.status_code == 405:
        text = f"{request.method} is not supported on {request.url.path}"
    else:
        text = str(exc.detail)
    code = _HTTP_CODES.get(exc.status_code, "processing")
    return outcome_response(exc.status_code, [Issue(code, text)], dict(exc.headers or {}))


async def _request_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    issues = [
        Issue("invalid", f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}")
        for e in exc.errors()[:20]
    ]
    return outcome_response(400, issues or [Issue("invalid", "invalid request")])


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    log.error(
        "database unavailable on %s %s: %s",
        request.method,
        request.scope.get("route"),
        type(exc).__name__,
    )
    text = "The database is not reachable; try again shortly"
    return outcome_response(503, [Issue("transient", text)], {"Retry-After": "5"})


async def _unexpected(request: Request, exc: Exception) -> Response:
    # The exception type and the route only: messages may carry patient data.
    log.error(
        "unhandled %s on %s %s", type(exc).__name__, request.method, request.scope.get("route")
    )
    log.debug("unhandled exception", exc_info=exc)
    return outcome_response(500, [Issue("exception", "Internal server error")])


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(FhirError, _fhir_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    # Infrastructure, not a FHIR meaning: the one place the HTTP layer knows a driver error.
    app.add_exception_handler(ConnectionFailure, _database_unavailable)
    app.add_exception_handler(Exception, _unexpected)
