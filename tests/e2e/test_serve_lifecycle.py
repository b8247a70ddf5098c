"""`medrec serve` as an operator runs it: stops cleanly on SIGTERM and Ctrl-C, and after a
kill -9 its embedded database goes too and the data is there on restart."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import start_server, stop_server

pytestmark = pytest.mark.slow


def test_sigterm_exits_cleanly(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    code = stop_server(server)  # asserts the exit within 20 s and the database gone
    assert code == 0, f"exit code {code}\n{server.output()}"


def test_ctrl_c_exits_cleanly(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    code = stop_server(server, signal.SIGINT)
    assert code == 0, f"exit code {code}\n{server.output()}"
    assert "Shutting down" in server.output()


def test_kill_9_takes_the_database_down_and_data_survives(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = start_server(data_dir)
    with httpx.Client(
        base_url=server.fhir_base + "/", trust_env=False, headers=server.admin_headers()
    ) as http:
        response = http.put(
            "Patient/survivor", json={"resourceType": "Patient", "id": "survivor", "active": True}
        )
        assert response.status_code == 201
    # kill -9: no cleanup runs in medrec; the kernel's parent-death signal stops the database.
    assert stop_server(server, signal.SIGKILL) == -signal.SIGKILL
    restarted = start_server(data_dir)
    try:
        with httpx.Client(
            base_url=restarted.fhir_base + "/",
            trust_env=False,
            headers=restarted.admin_headers(),
        ) as http:
            read = http.get("Patient/survivor")
            assert read.status_code == 200
            assert read.json()["active"] is True
    finally:
        assert stop_server(restarted) == 0
