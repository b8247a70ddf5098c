"""Every FHIR request leaves an AuditEvent, refused and failed ones too. The response's last
body chunk is held back until the event is on record (journaled, see ``trail.py``): nobody
receives patient data that is not on record as received. A request that reads AuditEvents first
waits for the events recorded before it to be stored, so that it finds them."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fhir_server.api.context import FHIR_PATH
from smart_auth.access import Access
from smart_auth.audit.events import Request, audit_event
from smart_auth.audit.trail import AuditTrail

log = logging.getLogger(__name__)
# Not patient data: the server's own description (and, below, its discovery documents).
_UNAUDITED = (f"{FHIR_PATH}/metadata",)
PURPOSE_HEADER = b"x-purpose-of-use"
# Where patient data comes in or goes out: the FHIR API, the HL7 v2 feed, scan uploads, and
# the admin API (who may see it).
AUDITED_ROOTS = (FHIR_PATH, "/hl7v2", "/ingest", "/admin")


def audited(path: str) -> bool:
    if path in _UNAUDITED or path.startswith(f"{FHIR_PATH}/.well-known/"):
        return False
    return any(path == root or path.startswith(root + "/") for root in AUDITED_ROOTS)


class AuditMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not audited(path):
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        state.audited_requests = getattr(state, "audited_requests", 0) + 1
        if _reads_audit(scope):
            await _stored_so_far(getattr(state, "audit", None))
        status = 500
        recorded = False
        held: Message | None = None  # the response's start, until its body is audited

        async def record() -> None:
            nonlocal recorded
            if recorded:
                return
            recorded = True
            trail: AuditTrail | None = getattr(scope["app"].state, "audit", None)
            if trail is None:
                return  # the app is starting or stopping
            access: Access | None = scope.get("state", {}).get("access")
            await trail.record(_event(scope, status, access))

        async def audited_send(message: Message) -> None:
            nonlocal status, held
            if message["type"] == "http.response.start":
                status = message["status"]
                held = message
                return
            if message["type"] == "http.response.body" and held is not None:
                start, held = held, None
                if not message.get("more_body"):
                    # The whole answer is here: it leaves only once it is on record.
                    try:
                        await record()
                    except RuntimeError:
                        if status < 400:
                            await _unrecorded(send)
                            return
                        # An error answer carries no patient data: it still goes out.
                await send(start)
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                await record()  # a streamed answer: its last part waits for the record
            await send(message)

        try:
            await self.app(scope, receive, audited_send)
        except Exception:
            status = 500
            await record()
            raise


def _reads_audit(scope: Scope) -> bool:
    """AuditEvent in the URL: its search, read, history, ``_type``, ``_include``… (cheap, and
    a false positive costs only a flush)."""
    return "AuditEvent" in scope.get("path", "") or b"AuditEvent" in scope.get("query_string", b"")


async def _stored_so_far(trail: AuditTrail | None) -> None:
    if trail is not None:
        with contextlib.suppress(RuntimeError):  # the database is away: the read will say so
            await trail.flush()


async def _unrecorded(send: Send) -> None:
    body = orjson.dumps(
        {
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": "error",
                    "code": "transient",
                    "diagnostics": "The access could not be recorded in the audit trail",
                }
            ],
        }
    )
    headers = [
        (b"content-type", b"application/fhir+json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", b"5"),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _event(scope: Scope, status: int, access: Access | None) -> dict[str, Any]:
    headers = dict(scope.get("headers", ()))
    purpose = headers.get(PURPOSE_HEADER, b"").decode("latin-1").strip()[:32] or None
    client = scope.get("client")
    path: str = scope.get("path", "")
    request = Request(
        method=scope.get("method", "GET"),
        # Below the FHIR base for FHIR requests ("Patient/1"), from the root for the others.
        path=(path[len(FHIR_PATH) :] if path.startswith(FHIR_PATH) else path).lstrip("/"),
        query=scope.get("query_string", b"").decode("latin-1"),
        status=status,
        address=client[0] if client else None,
        purpose=purpose,
    )
    grant = access.grant if access is not None else None
    return audit_event(request, grant, access.touched if access is not None else [])
