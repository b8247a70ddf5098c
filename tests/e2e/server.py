"""Running the real two-process set-up: `medrec serve` as a subprocess, which starts its own
embedded database (secantusd-py) as a child process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest
from joserfc.jwk import RSAKey
from pymongo import MongoClient

from fhir_server.storage.embedded import GUARD_GRACE_S, free_port
from smart_auth.tokens import Grant, sign_access_token

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 60.0
SHUTDOWN_TIMEOUT = 20.0
# How long the embedded database may take to disappear once medrec has exited: when medrec
# dies its guard (fhir_server/storage/db_guard.py) stops the database, and kills it if it has
# not closed within GUARD_GRACE_S.
DATABASE_GONE_TIMEOUT = GUARD_GRACE_S + 15.0
GUARD = "db_guard"


@dataclass(frozen=True)
class DatabaseProcess:
    pid: int
    ppid: int
    state: str
    cmdline: str


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def database_processes(data_dir: Path) -> list[DatabaseProcess]:
    """Live (not zombie) secantusd-py processes storing their data in ``data_dir``/db."""
    storage = str(data_dir / "db")
    found: list[DatabaseProcess] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            stat = (entry / "stat").read_text()
        except OSError:  # it exited while we looked
            continue
        cmdline = " ".join(args).strip()
        if "secantusd-py" not in cmdline or storage not in args or GUARD in cmdline:
            continue
        # /proc/PID/stat: "pid (comm) state ppid ..."; comm may contain spaces.
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if state in ("Z", "X"):  # exited, only waiting to be reaped
            continue
        found.append(DatabaseProcess(int(entry.name), int(ppid), state, cmdline))
    return found


@dataclass
class RunningServer:
    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log_path: Path
    database: DatabaseProcess

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def fhir_base(self) -> str:
        return f"{self.url}/fhir"

    @property
    def database_uri(self) -> str:
        args = self.database.cmdline.split()
        port = args[args.index("--port") + 1]
        return f"mongodb://127.0.0.1:{port}/?directConnection=true"

    def admin_headers(self) -> dict[str, str]:
        """An administrator's Authorization header, signed with this server's own key (read
        from its database): for the tests about something other than authorization."""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        client: MongoClient[dict[str, Any]]
        with MongoClient(self.database_uri) as client:
            # Created in the background at start-up: wait for it.
            while (stored := client["medrec"]["auth_keys"].find_one({"_id": "signing"})) is None:
                assert time.monotonic() < deadline, "the server did not create its signing key"
                time.sleep(0.1)
        grant = Grant("e2e-admin", "e2e-tests", "user/*.* system/*.*", role="admin")
        minted = sign_access_token(
            RSAKey.import_key(stored["jwk"]), 3600, grant, issuer=self.fhir_base,
            audience=self.fhir_base,
        )  # fmt: skip
        return {"Authorization": f"Bearer {minted.token}"}

    def output(self) -> str:
        """What the server printed, and the embedded database's own log."""
        text = f"--- medrec serve output ---\n{self.log_path.read_text(errors='replace')}"
        db_log = self.data_dir / "db.log"
        if db_log.exists():
            text += f"\n--- embedded database log ---\n{db_log.read_text(errors='replace')}"
        return text


def server_environment() -> dict[str, str]:
    """The caller's environment without any MEDREC_* setting (in particular no
    MEDREC_MONGODB_URI: the server must start its own embedded database)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MEDREC_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def start_server(data_dir: Path) -> RunningServer:
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = data_dir / "serve.log"
    command = [
        sys.executable, "-m", "fhir_server.cli", "serve",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--data-dir", str(data_dir),
    ]  # fmt: skip
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=data_dir,  # no stray .env file is read
            env=server_environment(),
        )

    def fail(reason: str) -> NoReturn:
        if process.poll() is None:
            process.kill()
            process.wait()
        for database in database_processes(data_dir):
            os.kill(database.pid, signal.SIGKILL)
        output = log_path.read_text(errors="replace")
        db_log = data_dir / "db.log"
        if db_log.exists():
            output += f"\n--- embedded database log ---\n{db_log.read_text(errors='replace')}"
        pytest.fail(f"{reason}\n--- medrec serve output ---\n{output}", pytrace=False)

    deadline = time.monotonic() + STARTUP_TIMEOUT
    with httpx.Client(timeout=2, trust_env=False) as http:
        while True:
            if process.poll() is not None:
                fail(f"medrec serve exited with code {process.returncode} before it was ready")
            try:
                response = http.get(f"http://127.0.0.1:{port}/healthz")
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code == 200:
                assert response.json() == {"status": "ok"}
                break
            if time.monotonic() > deadline:
                fail(f"GET /healthz did not answer 200 within {STARTUP_TIMEOUT:.0f} s")
            time.sleep(0.2)

    databases = database_processes(data_dir)
    if len(databases) != 1:
        fail(f"expected one embedded database process for {data_dir}, found {databases}")
    server = RunningServer(process, port, data_dir, log_path, databases[0])
    if parent_of(server.database.ppid) != process.pid:  # medrec → its guard → the database
        fail(f"the embedded database {server.database} is not medrec's {process.pid}")
    return server


def stop_server(server: RunningServer, signum: int = signal.SIGTERM) -> int:
    """Signal medrec (SIGTERM by default); assert it exits within SHUTDOWN_TIMEOUT and that its
    embedded database is gone soon after. Returns medrec's exit code (negative: killed by that
    signal)."""
    process = server.process
    if process.poll() is None:
        process.send_signal(signum)
    try:
        code = process.wait(SHUTDOWN_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        for database in database_processes(server.data_dir):
            os.kill(database.pid, signal.SIGKILL)
        pytest.fail(
            f"medrec serve did not exit within {SHUTDOWN_TIMEOUT:.0f} s of signal {signum}\n"
            + server.output(),
            pytrace=False,
        )
    deadline = time.monotonic() + DATABASE_GONE_TIMEOUT
    while (left := database_processes(server.data_dir)) and time.monotonic() < deadline:
        time.sleep(0.1)
    if left:
        for database in left:
            os.kill(database.pid, signal.SIGKILL)
        pytest.fail(
            f"the embedded database outlived medrec (exit code {code}) by more than "
            f"{DATABASE_GONE_TIMEOUT:.0f} s: {left}\n" + server.output(),
            pytrace=False,
        )
    return code
