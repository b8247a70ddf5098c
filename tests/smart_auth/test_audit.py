"""The audit trail: every access to patient data leaves an AuditEvent (failures too), the
events form a hash chain, and `medrec audit verify` finds the first tampered link."""

from __future__ import annotations

import asyncio
import base64
import os
import sys

import httpx
import pytest
from fastapi import FastAPI
from pymongo import AsyncMongoClient

from fhir_server.config import Settings
from smart_auth.audit.chain import CHAIN_EXTENSION, chain_values, link
from smart_auth.audit.verify import verify_chain
from smart_auth.tokens import Grant
from tests.conftest import TEST_BASE, bearer
from tests.helpers import patient
from tests.smart_auth.oauth_support import (
    authorize_params,
    browser,
    log_in,
    new_app,
    new_user,
    pkce,
)


async def _audit_of(client: httpx.AsyncClient, who: str) -> list[dict[str, object]]:
    response = await client.get(
        "AuditEvent", params={"agent": who, "_count": "100", "_sort": "date"}
    )
    assert response.status_code == 200, response.text
    return [entry["resource"] for entry in response.json().get("entry", [])]


def _query(event: dict[str, object]) -> str:
    entities = event["entity"]
    assert isinstance(entities, list)
    return base64.b64decode(entities[-1]["query"]).decode()


async def test_every_access_is_recorded_with_who_what_and_outcome(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    a = (await client.post("Patient", json=patient())).json()["id"]
    grant = Grant("user-a", "portal", "patient/*.read", "patient", f"Patient/{a}", a)
    transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 5000))
    async with httpx.AsyncClient(
        transport=transport, base_url=TEST_BASE + "/", headers=bearer(app, grant)
    ) as as_a:
        assert (await as_a.get(f"Patient/{a}")).status_code == 200
        assert (await as_a.get("Observation", params={"code": "1234-5"})).status_code == 200
        assert (await as_a.get("Patient/someone-else")).status_code == 404
        assert (
            await as_a.get(f"Patient/{a}", headers={"X-Purpose-Of-Use": "TREAT"})
        ).status_code == 200
    events = await _audit_of(client, f"Patient/{a}")
    assert [_query(e) for e in events] == [
        f"GET Patient/{a}",
        "GET Observation?code=1234-5",
        "GET Patient/someone-else",
        f"GET Patient/{a}",
    ]
    assert [e["outcome"] for e in events] == ["0", "0", "4", "0"]
    assert [e["subtype"][0]["code"] for e in events] == ["read", "search-type", "read", "read"]  # type: ignore[index]
    first = events[0]
    assert {"what": {"reference": f"Patient/{a}"}} in first["entity"]  # type: ignore[operator]
    agent = first["agent"][0]  # type: ignore[index]
    assert agent["network"]["address"] == "10.1.2.3"
    assert first["agent"][1]["who"]["identifier"]["value"] == "portal"  # type: ignore[index]
    assert events[3]["agent"][0]["purposeOfUse"][0]["coding"][0]["code"] == "TREAT"  # type: ignore[index]


async def test_requests_without_a_token_are_recorded_too(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=TEST_BASE + "/") as anonymous:
        assert (await anonymous.get("Patient/x")).status_code == 401
    listed = (await client.get("AuditEvent", params={"outcome": "4", "_count": "50"})).json()
    queries = [_query(entry["resource"]) for entry in listed.get("entry", [])]
    assert "GET Patient/x" in queries


@pytest.fixture
async def db(settings: Settings):  # type: ignore[no-untyped-def]
    assert settings.mongodb_uri is not None
    mongo: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(settings.mongodb_uri)
    yield mongo[settings.database]
    await mongo.close()


@pytest.mark.audit_tampered
async def test_verify_finds_the_first_tampered_event(
    app: FastAPI,
    client: httpx.AsyncClient,
    db,  # type: ignore[no-untyped-def]
) -> None:
    for _ in range(5):
        assert (await client.get("Patient")).status_code == 200
    await app.state.audit.flush()
    intact = await verify_chain(db)
    assert intact.intact and intact.checked >= 5
    # The record itself changed:
    await db["AuditEvent"].update_one({"seq": 3}, {"$set": {"res.outcome": "8"}})
    broken = await verify_chain(db)
    assert broken.broken_at == 3
    assert "changed" in broken.reason
    assert broken.checked == 2


@pytest.mark.audit_tampered
async def test_verify_finds_a_rewritten_chain_link(
    app: FastAPI,
    client: httpx.AsyncClient,
    db,  # type: ignore[no-untyped-def]
) -> None:
    """Changing an event and its own stated hash consistently still breaks the next link."""
    for _ in range(3):
        assert (await client.get("Patient")).status_code == 200
    await app.state.audit.flush()
    doc = await db["AuditEvent"].find_one({"seq": 2})
    event = doc["res"]
    event["outcome"] = "8"
    sequence, previous, _ = chain_values(event)
    event["extension"] = [e for e in event["extension"] if e["url"] != CHAIN_EXTENSION]
    digest = link(event, sequence, previous)
    await db["AuditEvent"].update_one({"seq": 2}, {"$set": {"res": event, "chain": digest}})
    broken = await verify_chain(db)
    assert broken.broken_at == 3
    assert "follow" in broken.reason


async def _verify_cli(settings: Settings) -> tuple[int, str]:
    env = {
        **os.environ,
        "MEDREC_MONGODB_URI": str(settings.mongodb_uri),
        "MEDREC_DATABASE": settings.database,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fhir_server.cli",
        "audit",
        "verify",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return await process.wait(), output.decode()


@pytest.mark.audit_tampered
async def test_verify_finds_a_removed_event_and_the_cli_says_so(
    app: FastAPI,
    client: httpx.AsyncClient,
    db,
    settings: Settings,  # type: ignore[no-untyped-def]
) -> None:
    for _ in range(4):
        assert (await client.get("Patient")).status_code == 200
    await app.state.audit.flush()
    code, output = await _verify_cli(settings)
    assert code == 0, output
    assert "intact" in output
    await db["AuditEvent"].delete_one({"seq": 2})
    code, output = await _verify_cli(settings)
    assert code == 1
    assert "BROKEN at event 2" in output


async def test_login_attempts_are_recorded(app: FastAPI, client: httpx.AsyncClient) -> None:
    """HIPAA §164.312(b)/(d): failed and successful logins leave AuditEvents (DICOM 110114)."""
    smart_app, _ = await new_app(app)
    user = await new_user(app)
    _, challenge = pkce()
    params = authorize_params(smart_app.client_id, challenge)
    async with browser(app) as http:
        assert (await log_in(http, params, user.username, "wrong password!")).status_code == 401
        await log_in(http, params, user.username)
    found = await client.get("AuditEvent", params={"type": "110114", "_sort": "date"})
    events = [entry["resource"] for entry in found.json()["entry"]]
    assert [event["outcome"] for event in events] == ["4", "0"]
    assert events[0]["outcomeDesc"] == "wrong username or password"
    assert events[1]["agent"][0]["who"]["reference"] == user.fhir_user
    assert events[1]["agent"][1]["who"]["identifier"]["value"] == smart_app.client_id
