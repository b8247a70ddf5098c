"""What one request did, as an AuditEvent (FHIR R4; the DICOM/IHE audit vocabulary)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fhir_server.model.ids import new_id
from fhir_server.storage.versions import instant
from smart_auth.tokens import Grant

MAX_ENTITIES = 500  # a search of 1,000 may name its first 500; the query names the rest
_EVENT_TYPE = {
    "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
    "code": "rest",
    "display": "RESTful Operation",
}
_INTERACTION_SYSTEM = "http://hl7.org/fhir/restful-interaction"
_PURPOSE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
_CLIENT_SYSTEM = "urn:medrec:client"
_USER_SYSTEM = "urn:medrec:user"
_FEED_SYSTEM = "urn:medrec:hl7v2-sender"
_DCM = "http://dicom.nema.org/resources/ontology/DCM"


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # below the FHIR base, e.g. "Patient/123/_history"
    query: str
    status: int
    address: str | None
    purpose: str | None  # a v3 PurposeOfUse code the client stated (TREAT, ETREAT, …)


def audit_event(
    request: Request,
    grant: Grant | None,
    touched: list[tuple[str, str]],
    sender: str | None = None,
) -> dict[str, Any]:
    """``sender``: a feed's own name for who sent (an HL7 v2 MSH-3|MSH-4), when there is no
    token (MLLP)."""
    interaction, action = _interaction(request.method, request.path)
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": new_id(),
        "type": _EVENT_TYPE,
        "subtype": [{"system": _INTERACTION_SYSTEM, "code": interaction}],
        "action": action,
        "recorded": instant(datetime.now(UTC)),
        "outcome": _outcome(request.status),
        "outcomeDesc": f"HTTP {request.status}",
        "agent": _agents(request, grant, sender),
        "source": {"observer": {"display": "medrec"}},
    }
    entities: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for rtype, rid in touched:
        if (rtype, rid) not in seen and len(entities) < MAX_ENTITIES:
            seen.add((rtype, rid))
            entities.append({"what": {"reference": f"{rtype}/{rid}"}})
    described = f"{request.method} {request.path}" + (f"?{request.query}" if request.query else "")
    entities.append(
        {
            "type": {
                "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                "code": "2",
            },
            "query": base64.b64encode(described.encode()).decode(),
        }
    )
    event["entity"] = entities
    return event


def _agents(request: Request, grant: Grant | None, sender: str | None) -> list[dict[str, Any]]:
    agent: dict[str, Any] = {"requestor": True}
    if sender is not None:
        agent["who"] = {"identifier": {"system": _FEED_SYSTEM, "value": sender}}
    elif grant is None:
        agent["who"] = {"display": "anonymous (no valid access token, or authorization off)"}
    elif grant.fhir_user:
        agent["who"] = {"reference": grant.fhir_user}
        agent["altId"] = grant.subject
    elif grant.role is not None:
        agent["who"] = {"identifier": {"system": _USER_SYSTEM, "value": grant.subject}}
    else:
        agent["who"] = {"identifier": {"system": _CLIENT_SYSTEM, "value": grant.client_id}}
    if request.address:
        agent["network"] = {"address": request.address, "type": "2"}
    if request.purpose:
        agent["purposeOfUse"] = [{"coding": [{"system": _PURPOSE_SYSTEM, "code": request.purpose}]}]
    agents = [agent]
    if grant is not None and (grant.role is not None or grant.fhir_user):
        app = {"identifier": {"system": _CLIENT_SYSTEM, "value": grant.client_id}}
        agents.append({"who": app, "requestor": False})
    return agents


def _outcome(status: int) -> str:
    if status < 400:
        return "0"
    return "4" if status < 500 else "8"


def _interaction(method: str, path: str) -> tuple[str, str]:
    """(restful-interaction code, AuditEvent action) from the request line."""
    parts = [part for part in path.split("/") if part]
    if any(part.startswith("$") for part in parts):
        return "operation", "E"
    if "_history" in parts:
        if len(parts) == 4:
            return "vread", "R"
        return {1: "history-system", 2: "history-type"}.get(len(parts), "history-instance"), "R"
    if method in ("GET", "HEAD"):
        if len(parts) == 2:
            return "read", "R"
        return ("search-system" if not parts else "search-type"), "E"
    if method == "POST":
        if not parts:
            return "transaction", "E"
        if parts[-1] == "_search":
            return "search-type", "E"
        return "create", "C"
    if method == "PUT":
        return "update", "U"
    if method == "PATCH":
        return "patch", "U"
    if method == "DELETE":
        return "delete", "D"
    return "operation", "E"


def login_event(
    username: str, fhir_user: str | None, client_id: str, address: str | None, failure: str | None
) -> dict[str, Any]:
    """A login attempt at the authorization server (DICOM "User Authentication" / "Login"):
    who tried, through which app, from where, and why it failed."""
    who: dict[str, Any] = (
        {"reference": fhir_user}
        if fhir_user
        else {"identifier": {"system": _USER_SYSTEM, "value": username[:128]}}
    )
    agent: dict[str, Any] = {"who": who, "requestor": True}
    if address:
        agent["network"] = {"address": address, "type": "2"}
    app = {
        "who": {"identifier": {"system": _CLIENT_SYSTEM, "value": client_id}},
        "requestor": False,
    }
    return {
        "resourceType": "AuditEvent",
        "id": new_id(),
        "type": {"system": _DCM, "code": "110114", "display": "User Authentication"},
        "subtype": [{"system": _DCM, "code": "110122", "display": "Login"}],
        "action": "E",
        "recorded": instant(datetime.now(UTC)),
        "outcome": "0" if failure is None else "4",
        "outcomeDesc": failure or "logged in",
        "agent": [agent, app],
        "source": {"observer": {"display": "medrec authorization server"}},
    }
