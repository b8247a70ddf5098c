"""The `medrec` command, run as a subprocess against the session's database server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from fhir_server.demo import demo_resources
from fhir_server.storage.index_format import INDEX_FORMAT, META_COLLECTION

REPO_ROOT = Path(__file__).resolve().parents[1]
MEDREC = [sys.executable, "-m", "fhir_server.cli"]
TIMEOUT = 120


def base_environment() -> dict[str, str]:
    """The caller's environment without MEDREC_* settings; wide, plain console output."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MEDREC_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["COLUMNS"] = "200"
    env["NO_COLOR"] = "1"
    env.pop("FORCE_COLOR", None)
    return env


@pytest.fixture
def cli_env(mongodb_uri: str, database_name: str) -> dict[str, str]:
    env = base_environment()
    env["MEDREC_MONGODB_URI"] = mongodb_uri
    env["MEDREC_DATABASE"] = database_name
    return env


def run(
    args: list[str], env: dict[str, str], cwd: Path, command: list[str] = MEDREC
) -> subprocess.CompletedProcess[str]:
    """Run medrec; cwd is a scratch directory so no stray .env file is read."""
    return subprocess.run(
        [*command, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
    )


def describe(result: subprocess.CompletedProcess[str]) -> str:
    return (
        f"{result.args} exited with {result.returncode}\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    )


def test_demo_loads_the_data_set_once(
    cli_env: dict[str, str], mongodb_uri: str, database_name: str, tmp_path: Path
) -> None:
    expected = Counter(resource["resourceType"] for resource in demo_resources())
    total = sum(expected.values())

    first = run(["demo"], cli_env, tmp_path)
    assert first.returncode == 0, describe(first)
    assert f"demo data: {total} resources created" in first.stdout, describe(first)

    client: MongoClient[dict[str, Any]]
    with MongoClient(mongodb_uri) as client:
        db: Database[dict[str, Any]] = client[database_name]
        amina = db["Patient"].find_one({"_id": "amina-hassan"})
        assert amina is not None
        assert amina["v"] == 1
        assert amina["res"]["id"] == "amina-hassan"
        assert amina["res"]["name"][0]["family"] == "Hassan"
        assert amina["res"]["meta"]["versionId"] == "1"
        for rtype, count in expected.items():
            assert db[rtype].count_documents({}) == count, rtype

        second = run(["demo"], cli_env, tmp_path)
        assert second.returncode == 0, describe(second)
        assert "demo data: 0 resources created" in second.stdout, describe(second)
        # Nothing was written again: still version 1, no history.
        again = db["Patient"].find_one({"_id": "amina-hassan"})
        assert again is not None
        assert again["v"] == 1
        assert again["ts"] == amina["ts"]
        for rtype, count in expected.items():
            assert db[rtype].count_documents({}) == count, rtype
            assert db[f"{rtype}_history"].count_documents({}) == 0, rtype


def test_db_status_lists_collections_with_counts(
    cli_env: dict[str, str], mongodb_uri: str, database_name: str, tmp_path: Path
) -> None:
    client: MongoClient[dict[str, Any]]
    with MongoClient(mongodb_uri) as client:
        db: Database[dict[str, Any]] = client[database_name]
        db["Patient"].insert_many([{"_id": f"p{i}", "v": 1} for i in range(3)])
        db["Observation"].insert_one({"_id": "o1", "v": 1})
        db["Observation_history"].insert_many([{"rid": "o1", "v": i} for i in (1, 2)])

    result = run(["db", "status"], cli_env, tmp_path)
    assert result.returncode == 0, describe(result)
    out = result.stdout
    assert out.startswith("database: external, server version "), describe(result)
    rows = dict(re.findall(r"^\W*(\w+)\W+(\d+)\W*$", out, flags=re.MULTILINE))
    assert rows == {"Observation": "1", "Observation_history": "2", "Patient": "3"}, out


def test_help_for_every_command(tmp_path: Path) -> None:
    env = base_environment()
    console_script = Path(sys.executable).parent / "medrec"
    invocations: dict[str, tuple[list[str], list[str]]] = {
        "serve": (MEDREC, ["serve", "--help"]),
        "demo": (MEDREC, ["demo", "--help"]),
        "db status": (MEDREC, ["db", "status", "--help"]),
        "openapi": (MEDREC, ["openapi", "--help"]),
        "reindex": (MEDREC, ["reindex", "--help"]),
        "load": (MEDREC, ["load", "--help"]),
        "labels": (MEDREC, ["labels", "--help"]),
        "console script": ([str(console_script)], ["--help"]),
    }
    # In parallel: each one is a Python start-up (about a second of CPU).
    processes = {
        name: subprocess.Popen(
            [*command, *args],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        for name, (command, args) in invocations.items()
    }
    outputs: dict[str, str] = {}
    for name, process in processes.items():
        stdout, stderr = process.communicate(timeout=TIMEOUT)
        assert process.returncode == 0, f"{name}: {process.returncode}\n{stdout}\n{stderr}"
        assert "Usage:" in stdout, f"{name}:\n{stdout}\n{stderr}"
        outputs[name] = stdout

    top = outputs["console script"]  # `medrec --help`, through the installed entry point
    for command in ("serve", "demo", "db", "openapi", "reindex", "load", "labels"):
        assert re.search(rf"^\W*{command}\s", top, flags=re.MULTILINE), top
    for option in ("--host", "--port", "--data-dir", "--demo"):
        assert option in outputs["serve"], outputs["serve"]
    assert "--data-dir" in outputs["demo"]
    assert "--data-dir" in outputs["db status"]
    assert "--output" in outputs["openapi"]
    assert "--type" in outputs["reindex"] and "--restart" in outputs["reindex"]
    assert "--restart" in outputs["load"]
    assert "--calibration-card" in outputs["labels"]


@pytest.mark.parametrize("command", [["serve"], ["demo"]])
def test_bad_setting_is_an_error(
    command: list[str], cli_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**cli_env, "MEDREC_PORT": "notaport"}
    result = run(command, env, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0, describe(result)
    assert "port" in output, describe(result)
    assert "notaport" in output, describe(result)
    assert "Uvicorn running" not in output


def test_bad_setting_error_is_short(cli_env: dict[str, str], tmp_path: Path) -> None:
    result = run(["db", "status"], {**cli_env, "MEDREC_PORT": "notaport"}, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0, describe(result)
    assert "Traceback" not in output, describe(result)
    assert "MEDREC_PORT" in output, describe(result)
    assert len(output.splitlines()) <= 10, describe(result)


def test_reindex_command(cli_env: dict[str, str], tmp_path: Path) -> None:
    loaded = run(["demo"], cli_env, tmp_path)
    assert loaded.returncode == 0, describe(loaded)
    result = run(["reindex", "--type", "Patient", "--type", "Observation"], cli_env, tmp_path)
    assert result.returncode == 0, describe(result)
    assert "reindexed 30 resources (0 changed)" in result.stdout, describe(result)
    bad = run(["reindex", "--type", "Spaceship"], cli_env, tmp_path)
    assert bad.returncode == 2
    assert "Spaceship" in bad.stdout + bad.stderr


def test_full_reindex_records_the_index_format(
    cli_env: dict[str, str], tmp_path: Path, mongodb_uri: str, database_name: str
) -> None:
    loaded = run(["demo"], cli_env, tmp_path)
    assert loaded.returncode == 0, describe(loaded)
    with MongoClient(mongodb_uri) as client:
        meta = client[database_name][META_COLLECTION]
        meta.replace_one({"_id": "searchIndexFormat"}, {"version": 1}, upsert=True)
        partial = run(["reindex", "--type", "Patient"], cli_env, tmp_path)
        assert partial.returncode == 0, describe(partial)
        assert meta.find_one({"_id": "searchIndexFormat"})["version"] == 1  # not every type
        full = run(["reindex"], cli_env, tmp_path)
        assert full.returncode == 0, describe(full)
        assert meta.find_one({"_id": "searchIndexFormat"})["version"] == INDEX_FORMAT


def test_labels_command(cli_env: dict[str, str], tmp_path: Path) -> None:
    from tests.ingestion.labels.scan import read_pdf

    loaded = run(["demo"], cli_env, tmp_path)
    assert loaded.returncode == 0, describe(loaded)
    args = ["labels", "--patient", "amina-hassan", "--category", "lab-results", "--document", "D1"]
    result = run([*args, "-o", "label.pdf"], cli_env, tmp_path)
    assert result.returncode == 0, describe(result)
    (page,) = read_pdf((tmp_path / "label.pdf").read_bytes())
    assert page.codes["datamatrix"].startswith("MEDDOC:") and page.codes["datamatrix"].endswith(
        ":lab-results:D1"
    )
    card = run(["labels", "--calibration-card", "-o", "card.pdf"], cli_env, tmp_path)
    assert card.returncode == 0, describe(card)
    assert (tmp_path / "card.pdf").read_bytes().startswith(b"%PDF")
    unknown = run(["labels", "--patient", "nobody", "--category", "lab-results"], cli_env, tmp_path)
    assert unknown.returncode == 1 and "nobody" in unknown.stdout, describe(unknown)
    missing = run(["labels", "--patient", "amina-hassan"], cli_env, tmp_path)
    assert missing.returncode == 2, describe(missing)
