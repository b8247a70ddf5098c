"""Enforcement of access tokens on every FHIR path (SMART App Launch: scopes and launch
context). Mirrors Inferno's "patient-level scopes" checks and the issue's negative list: a
token of patient A reading patient B's data directly, by search, by _include, by _revinclude,
through history, inside a batch and through $everything — all denied."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from smart_auth.tokens import Grant, Tokens
from tests.conftest import TEST_BASE, bearer
from tests.helpers import patient


@dataclass
class World:
    a: str  # patient A
    b: str  # patient B
    obs_a: str  # A's laboratory Observation
    vitals_a: str  # A's vital-signs Observation
    obs_b: str
    practitioner: str


def _observation(subject: str, category: str, **extra: object) -> dict[str, object]:
    cat = "http://terminology.hl7.org/CodeSystem/observation-category"
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": cat, "code": category}]}],
        "code": {"text": "x"},
        "subject": {"reference": f"Patient/{subject}"},
        **extra,
    }


async def _create(client: httpx.AsyncClient, body: dict[str, object]) -> str:
    response = await client.post(str(body["resourceType"]), json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.fixture
async def world(client: httpx.AsyncClient) -> World:
    a = await _create(client, patient(name=[{"family": "Alpha"}]))
    b = await _create(client, patient(name=[{"family": "Beta"}]))
    practitioner = await _create(
        client, {"resourceType": "Practitioner", "name": [{"family": "D"}]}
    )
    # A's lab result names B as performer: _include must not carry B along.
    obs_a = await _create(
        client, _observation(a, "laboratory", performer=[{"reference": f"Patient/{b}"}])
    )
    vitals_a = await _create(client, _observation(a, "vital-signs"))
    obs_b = await _create(client, _observation(b, "laboratory"))
    return World(a, b, obs_a, vitals_a, obs_b, practitioner)


def _as(app: FastAPI, grant: Grant) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=TEST_BASE + "/",
        headers=bearer(app, grant),
        timeout=60,
    )


def patient_grant(pid: str, scope: str = "patient/*.read launch/patient") -> Grant:
    return Grant(
        f"user-{pid}", "app", scope, role="patient", fhir_user=f"Patient/{pid}", patient=pid
    )


@pytest.fixture
async def as_a(app: FastAPI, world: World) -> AsyncIterator[httpx.AsyncClient]:
    async with _as(app, patient_grant(world.a)) as http:
        yield http


def _ids(bundle: dict[str, object]) -> set[str]:
    entries = bundle.get("entry") or []
    assert isinstance(entries, list)
    return {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in entries}


async def test_direct_reads_outside_the_compartment_are_not_found(
    as_a: httpx.AsyncClient, world: World
) -> None:
    assert (await as_a.get(f"Patient/{world.a}")).status_code == 200
    assert (await as_a.get(f"Observation/{world.obs_a}")).status_code == 200
    for path in (
        f"Patient/{world.b}",
        f"Observation/{world.obs_b}",
        f"Patient/{world.b}/_history/1",
    ):
        response = await as_a.get(path)
        assert response.status_code == 404, path
        assert response.json()["resourceType"] == "OperationOutcome"
    # Not in any patient's compartment: readable with patient/*.read.
    assert (await as_a.get(f"Practitioner/{world.practitioner}")).status_code == 200


async def test_search_sees_only_the_compartment(as_a: httpx.AsyncClient, world: World) -> None:
    found = _ids((await as_a.get("Observation")).json())
    assert found == {f"Observation/{world.obs_a}", f"Observation/{world.vitals_a}"}
    assert _ids((await as_a.get("Patient")).json()) == {f"Patient/{world.a}"}
    by_subject = await as_a.get(
        "Observation", params={"subject": f"Patient/{world.b}", "_total": "accurate"}
    )
    by_subject = by_subject.json()
    assert _ids(by_subject) == set()
    assert by_subject["total"] == 0
    chained = await as_a.get("Observation", params={"subject:Patient.name": "Beta"})
    assert _ids(chained.json()) == set()
    system = (await as_a.get("", params={"_type": "Observation,Patient"})).json()
    assert f"Patient/{world.b}" not in _ids(system) and f"Observation/{world.obs_b}" not in _ids(
        system
    )


async def test_include_and_revinclude_stay_in_the_compartment(
    as_a: httpx.AsyncClient, world: World
) -> None:
    included = await as_a.get(
        "Observation", params={"_include": ["Observation:performer", "Observation:subject"]}
    )
    assert f"Patient/{world.b}" not in _ids(included.json())
    assert f"Patient/{world.a}" in _ids(included.json())
    rev = await as_a.get("Patient", params={"_revinclude": "Observation:subject"})
    assert f"Observation/{world.obs_b}" not in _ids(rev.json())
    assert f"Observation/{world.obs_a}" in _ids(rev.json())
    wildcard = await as_a.get("Patient", params={"_revinclude": "*", "_include": "*"})
    assert not {f"Observation/{world.obs_b}", f"Patient/{world.b}"} & _ids(wildcard.json())


async def test_history_stays_in_the_compartment(as_a: httpx.AsyncClient, world: World) -> None:
    assert (await as_a.get(f"Patient/{world.b}/_history")).status_code == 404
    for path in ("Observation/_history", "_history"):
        seen = _ids((await as_a.get(path)).json())
        assert f"Observation/{world.obs_a}" in seen
        assert not {f"Observation/{world.obs_b}", f"Patient/{world.b}"} & seen, path


async def test_batch_entries_are_each_enforced(as_a: httpx.AsyncClient, world: World) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"request": {"method": "GET", "url": f"Patient/{world.b}"}},
            {"request": {"method": "GET", "url": f"Patient/{world.a}"}},
            {
                "resource": _observation(world.b, "laboratory"),
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    response = await as_a.post("", json=bundle)
    assert response.status_code == 200, response.text
    entries = response.json()["entry"]
    assert entries[0]["response"]["status"].startswith("404")
    assert entries[1]["response"]["status"].startswith("200")
    assert entries[2]["response"]["status"].startswith("403")


async def test_transaction_cannot_write_into_another_compartment(
    app: FastAPI, world: World
) -> None:
    grant = patient_grant(world.a, "patient/Observation.cruds launch/patient")
    async with _as(app, grant) as http:
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "resource": _observation(world.a, "laboratory"),
                    "request": {"method": "POST", "url": "Observation"},
                },
                {
                    "resource": _observation(world.b, "laboratory"),
                    "request": {"method": "POST", "url": "Observation"},
                },
            ],
        }
        assert (await http.post("", json=bundle)).status_code == 403
        # Moving B's result into A's record is refused as if it did not exist.
        moved = _observation(world.a, "laboratory", id=world.obs_b)
        assert (await http.put(f"Observation/{world.obs_b}", json=moved)).status_code == 404
        assert (await http.delete(f"Observation/{world.obs_b}")).status_code == 404
        own = await http.post("Observation", json=_observation(world.a, "laboratory"))
        assert own.status_code == 201
        # No scope for Patient writes at all: 403.
        assert (await http.post("Patient", json=patient())).status_code == 403


async def test_everything_of_another_patient_is_not_found(
    as_a: httpx.AsyncClient, world: World
) -> None:
    assert (await as_a.get(f"Patient/{world.b}/$everything")).status_code == 404
    own = _ids((await as_a.get(f"Patient/{world.a}/$everything")).json())
    assert f"Observation/{world.obs_a}" in own and f"Observation/{world.obs_b}" not in own
    # B's compartment holds A's result too (B is its performer): A may see that one only.
    compartment = await as_a.get(f"Patient/{world.b}/Observation")
    assert _ids(compartment.json()) == {f"Observation/{world.obs_a}"}


async def test_read_only_scopes_cannot_write(as_a: httpx.AsyncClient, world: World) -> None:
    response = await as_a.post("Observation", json=_observation(world.a, "laboratory"))
    assert response.status_code == 403
    assert response.json()["issue"][0]["code"] == "forbidden"


async def test_granular_scope_limits_by_category(app: FastAPI, world: World) -> None:
    grant = patient_grant(world.a, "patient/Observation.rs?category=laboratory launch/patient")
    async with _as(app, grant) as http:
        assert _ids((await http.get("Observation")).json()) == {f"Observation/{world.obs_a}"}
        assert (await http.get(f"Observation/{world.vitals_a}")).status_code == 404
        assert (await http.get(f"Observation/{world.obs_a}")).status_code == 200
        assert (await http.get(f"Patient/{world.a}")).status_code == 403  # no Patient scope


async def test_practitioner_and_system_clients(app: FastAPI, world: World) -> None:
    doctor = Grant("u-doc", "app", "user/*.read", role="practitioner", fhir_user="Practitioner/x")
    async with _as(app, doctor) as http:
        assert {f"Patient/{world.a}", f"Patient/{world.b}"} <= _ids(
            (await http.get("Patient")).json()
        )
    backend = Grant("lab-system", "lab-system", "system/Observation.rs")
    async with _as(app, backend) as http:
        assert f"Observation/{world.obs_b}" in _ids((await http.get("Observation")).json())
        assert (await http.get(f"Patient/{world.a}")).status_code == 403


async def test_missing_bad_expired_revoked_and_foreign_tokens_are_401(
    app: FastAPI, world: World
) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=TEST_BASE + "/") as anonymous:
        response = await anonymous.get(f"Patient/{world.a}")
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert (await anonymous.get("metadata")).status_code == 200  # open to all
        for header in ("Bearer not-a-jwt", "Basic dXNlcjpwYXNz"):
            bad = await anonymous.get(f"Patient/{world.a}", headers={"Authorization": header})
            assert bad.status_code == 401, header
        auth = app.state.auth
        grant = patient_grant(world.a)
        expired = Tokens(auth.db, auth.key, lifetime_s=-3600).mint(
            grant, issuer="http://testserver", audience=TEST_BASE
        )
        elsewhere = auth.tokens.mint(grant, issuer="x", audience="https://other.example/fhir")
        for token in (expired.token, elsewhere.token):
            response = await anonymous.get(
                f"Patient/{world.a}", headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 401
        live = auth.tokens.mint(grant, issuer="http://testserver", audience=TEST_BASE)
        headers = {"Authorization": f"Bearer {live.token}"}
        assert (await anonymous.get(f"Patient/{world.a}", headers=headers)).status_code == 200
        assert await auth.tokens.revoke(live.token)
        assert (await anonymous.get(f"Patient/{world.a}", headers=headers)).status_code == 401
    assert time.time() > 0


async def test_audit_trail_is_admin_only_and_read_only(
    client: httpx.AsyncClient, as_a: httpx.AsyncClient, world: World
) -> None:
    assert (await as_a.get("AuditEvent")).status_code == 403
    assert (await client.get("AuditEvent")).status_code == 200
    forged = {
        "resourceType": "AuditEvent",
        "type": {"code": "rest"},
        "recorded": "2026-01-01T00:00:00Z",
        "agent": [{"requestor": True}],
        "source": {"observer": {"display": "x"}},
    }
    # Another system's record may be added (outside the chain), never changed or removed.
    assert (await client.post("AuditEvent", json=forged)).status_code == 201
    assert (await as_a.post("AuditEvent", json=forged)).status_code == 403
    listed = (await client.get("AuditEvent", params={"_count": "1"})).json()
    some = listed["entry"][0]["resource"]
    assert (await client.delete(f"AuditEvent/{some['id']}")).status_code == 403
    assert (await client.put(f"AuditEvent/{some['id']}", json=some)).status_code == 403


async def test_export_is_for_system_clients_and_admins_and_a_job_is_its_clients(
    app: FastAPI, as_a: httpx.AsyncClient
) -> None:
    """Bulk Data IG: kick-off needs system/ scopes; a job's status is its client's only."""
    prefer = {"Prefer": "respond-async"}
    assert (await as_a.get("$export", headers=prefer)).status_code == 403
    doctor = Grant("u-doc", "app", "user/*.read", role="practitioner", fhir_user="Practitioner/x")
    async with _as(app, doctor) as http:
        assert (await http.get("Patient/$export", headers=prefer)).status_code == 403
    exporter = Grant("bulk-client", "bulk-client", "system/*.rs")
    async with _as(app, exporter) as http:
        kicked = await http.get("$export", headers=prefer)
        assert kicked.status_code == 202
        status_url = kicked.headers["content-location"]
        assert (await http.get(status_url)).status_code in (200, 202)
    other = Grant("other-client", "other-client", "system/*.rs")
    async with _as(app, other) as http:
        assert (await http.get(status_url)).status_code == 404
        assert (await http.delete(status_url)).status_code == 404
