"""`medrec users …` and `medrec clients …` against the session's database: in process through
typer's runner (a subprocess costs seconds of start-up), and once as the real command."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import ECKey
from pymongo import AsyncMongoClient
from typer.testing import CliRunner

from fhir_server.cli import app
from fhir_server.config import Settings
from smart_auth.accounts.clients import ClientStore
from smart_auth.accounts.totp import code_at
from smart_auth.accounts.users import UserStore
from tests.test_cli import MEDREC, TIMEOUT, base_environment, describe

PASSWORD = "correct horse battery"


@pytest.fixture
def env(
    mongodb_uri: str, database_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)  # no stray .env file is read
    return {
        **base_environment(),
        "MEDREC_MONGODB_URI": mongodb_uri,
        "MEDREC_DATABASE": database_name,
    }


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str


def medrec(args: list[str], env: dict[str, str], stdin: str = "") -> Ran:
    result = CliRunner().invoke(app, args, input=stdin, env=env, catch_exceptions=False)
    return Ran(result.exit_code, result.output)


def ok(result: Ran) -> str:
    assert result.returncode == 0, result.stdout
    return result.stdout


def explain(result: Ran) -> str:
    return f"exit {result.returncode}:\n{result.stdout}"


def rows(table: str) -> dict[str, list[str]]:
    """A rich table's body rows by first cell."""
    found = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in re.split(r"[│┃|]", line)[1:-1]]
        if cells and cells[0] and not set(line) <= set("━─┏┓┗┛┡┩└┘╇┳┻╋┼├┤ "):
            found[cells[0]] = cells[1:]
    return found


def test_users(env: dict[str, str], tmp_path: Path) -> None:
    doctor = ["users", "add", "dr-chen", "--role", "practitioner"]
    out = ok(
        medrec(
            [*doctor, "--fhir-user", "Practitioner/dr-chen", "--password-stdin"],
            env,
            PASSWORD + "\n",
        )
    )
    assert "added user dr-chen (practitioner, Practitioner/dr-chen)" in out
    assert "otpauth://" not in out

    admin = ok(
        medrec(
            ["users", "add", "root", "--role", "admin", "--password-stdin"],
            env,
            PASSWORD + "\n",
        )
    )
    uris = re.findall(r"^otpauth://totp/medrec:root\?secret=\w+.*$", admin, re.MULTILINE)
    assert len(uris) == 1, admin

    listed = ok(medrec(["users", "list"], env))
    assert rows(listed)["dr-chen"] == ["practitioner", "Practitioner/dr-chen", "-", "active"]
    assert rows(listed)["root"] == ["admin", "-", "totp", "active"]
    assert "argon2" not in listed and "secret" not in listed

    assert "disabled user dr-chen" in ok(medrec(["users", "disable", "dr-chen"], env))
    assert rows(ok(medrec(["users", "list"], env)))["dr-chen"][-1] == "disabled"

    unknown = medrec(["users", "disable", "nobody"], env)
    assert unknown.returncode == 1 and "no user 'nobody'" in unknown.stdout, explain(unknown)


def test_user_errors_name_the_problem(env: dict[str, str], tmp_path: Path) -> None:
    short = medrec(
        ["users", "add", "ann", "--role", "staff", "--password-stdin"], env, "too short\n"
    )
    assert short.returncode == 1, explain(short)
    assert "12 to 1024 characters" in short.stdout
    assert "too short" not in short.stdout

    patient = ["users", "add", "ann", "--role", "patient", "--password-stdin"]
    unlinked = medrec(patient, env, PASSWORD + "\n")
    assert unlinked.returncode == 1 and "Patient/<id>" in unlinked.stdout, explain(unlinked)

    ok(medrec([*patient, "--fhir-user", "Patient/amina-hassan"], env, PASSWORD + "\n"))
    taken = medrec([*patient, "--fhir-user", "Patient/amina-hassan"], env, PASSWORD + "\n")
    assert taken.returncode == 1 and "taken" in taken.stdout, explain(taken)


def test_password_prompt_asks_twice(env: dict[str, str], tmp_path: Path) -> None:
    args = ["users", "add", "nurse", "--role", "staff"]
    mismatch = medrec(args, env, f"{PASSWORD}\nsomething else\n")
    assert "do not match" in mismatch.stdout
    result = medrec(args, env, f"{PASSWORD}\n{PASSWORD}\n")
    assert result.returncode == 0, result.stdout
    assert "added user nurse (staff)" in result.stdout
    assert PASSWORD not in result.stdout


def test_clients(env: dict[str, str], tmp_path: Path) -> None:
    public = ["clients", "add", "Growth chart", "--kind", "public", "--client-id", "growth"]
    out = ok(
        medrec(
            [
                *public,
                "--redirect-uri",
                "http://localhost:4000/callback",
                "--scope",
                "launch/patient openid fhirUser patient/*.rs",
            ],
            env,
        )
    )
    assert "added client growth (public)" in out
    assert "secret" not in out

    symmetric = ["clients", "add", "Dashboard", "--kind", "confidential-symmetric"]
    out = ok(medrec([*symmetric, "--redirect-uri", "https://dash.example.org/cb"], env))
    secret = out.strip().splitlines()[-1]
    assert len(secret) >= 40, out

    keys = tmp_path / "jwks.json"
    keys.write_text(json.dumps({"keys": [ECKey.generate_key("P-384").as_dict(private=False)]}))
    backend = ["clients", "add", "Exporter", "--kind", "confidential-asymmetric"]
    ok(
        medrec(
            [*backend, "--jwks", str(keys), "--client-id", "exporter", "--scope", "system/*.rs"],
            env,
        )
    )

    listed = ok(medrec(["clients", "list"], env))
    table = rows(listed)
    assert table["growth"] == [
        "Growth chart",
        "public",
        "authorization_code refresh_token",
        "http://localhost:4000/callback",
        "active",
    ]
    assert table["exporter"][1:4] == ["confidential-asymmetric", "client_credentials", "-"]
    assert secret not in listed

    assert "removed client growth" in ok(medrec(["clients", "remove", "growth"], env))
    assert rows(ok(medrec(["clients", "list"], env)))["growth"][-1] == "removed"
    unknown = medrec(["clients", "remove", "nothing"], env)
    assert unknown.returncode == 1 and "no client 'nothing'" in unknown.stdout


def test_client_errors_name_the_problem(env: dict[str, str], tmp_path: Path) -> None:
    insecure = medrec(
        [
            "clients",
            "add",
            "App",
            "--kind",
            "public",
            "--redirect-uri",
            "http://app.example.org/cb",
        ],
        env,
    )
    assert insecure.returncode == 1, explain(insecure)
    assert "absolute https URL" in insecure.stdout
    keyless = medrec(["clients", "add", "Exporter", "--kind", "confidential-asymmetric"], env)
    assert keyless.returncode == 1 and "jwks" in keyless.stdout, explain(keyless)
    kind = medrec(["clients", "add", "App", "--kind", "shared"], env)
    assert kind.returncode == 1 and "public" in kind.stdout, explain(kind)


def test_the_real_command(env: dict[str, str], tmp_path: Path) -> None:
    add = ["users", "add", "root", "--role", "admin", "--password-stdin"]
    added = subprocess.run(
        [*MEDREC, *add],
        env=env,
        cwd=tmp_path,
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert added.returncode == 0, describe(added)
    assert "added user root (admin)" in added.stdout
    assert PASSWORD not in added.stdout + added.stderr
    for group, commands in (
        ("users", ("add", "list", "disable")),
        ("clients", ("add", "list", "remove")),
    ):
        top = ok(medrec([group, "--help"], env))
        for command in commands:
            assert re.search(rf"^\W*{command}\s", top, re.MULTILINE), top
    assert "--password-stdin" in ok(medrec(["users", "add", "--help"], env))


def test_demo_creates_accounts_once(
    env: dict[str, str], settings: Settings, mongodb_uri: str
) -> None:
    first = ok(medrec(["demo"], env))
    passwords = dict(re.findall(r"^  ([\w-]+) \(.*\): (\S+)$", first, re.MULTILINE))
    assert set(passwords) == {"dr-chen", "amina", "admin"}, first
    assert "dr-chen (practitioner, Practitioner/dr-chen)" in first
    assert "amina (patient, Patient/amina-hassan)" in first
    totp_uri = re.search(r"otpauth://totp/medrec:admin\?secret=(\w+)\S*", first)
    assert totp_uri is not None, first
    assert "client_id=medrec-demo-app" in first and "http://localhost:4000/callback" in first

    async def log_in() -> None:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
        try:
            users = UserStore(client[settings.database], settings)
            doctor = await users.authenticate("dr-chen", passwords["dr-chen"], None)
            assert doctor.fhir_user == "Practitioner/dr-chen"
            code = code_at(totp_uri.group(1), time.time())
            admin = await users.authenticate("admin", passwords["admin"], code)
            assert admin.role == "admin"
            app = await ClientStore(client[settings.database]).get("medrec-demo-app")
            assert app is not None and app.kind == "public"
        finally:
            await client.close()

    asyncio.run(log_in())
    again = ok(medrec(["demo"], env))
    assert "demo data: 0 resources created" in again
    assert "otpauth://" not in again and passwords["admin"] not in again
    assert "demo SMART app (existed already)" in again
