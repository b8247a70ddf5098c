"""The guard between medrec and its embedded database (``db_guard.py``), with a stand-in
database: a Python process that notes the SIGTERM it gets, and either exits or ignores it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fhir_server.storage import db_guard

GUARD = [sys.executable, "-I", db_guard.__file__]

STAND_IN = """
import signal, sys, time
from pathlib import Path
note = Path(sys.argv[1])
def on_term(signum, frame):
    note.write_text("SIGTERM")
    Path(str(note) + ".at").write_text(repr(time.monotonic()))
    if sys.argv[2] in ("exits", "busy"):
        sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
Path(str(note) + ".pid").write_text(str(__import__("os").getpid()))
if sys.argv[2] == "busy":  # a statement still running for a client that has gone
    end = time.monotonic() + 1.5
    while time.monotonic() < end:
        pass
    Path(str(note) + ".idle").write_text(repr(time.monotonic()))
while True:
    time.sleep(0.05)
"""


def stand_in(tmp_path: Path, behaviour: str) -> tuple[list[str], Path]:
    note = tmp_path / "note"
    return [sys.executable, "-c", STAND_IN, str(note), behaviour], note


def wait_for(path: Path, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.05)
    return path.read_text()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def test_sigterm_is_passed_on_and_the_database_closes(tmp_path: Path) -> None:
    command, note = stand_in(tmp_path, "exits")
    guard = subprocess.Popen([*GUARD, "10", *command])
    pid = int(wait_for(Path(f"{note}.pid")))
    guard.send_signal(signal.SIGTERM)
    assert guard.wait(5) == 0  # the database's own exit code
    assert note.read_text() == "SIGTERM"
    assert not alive(pid)


def test_a_busy_database_is_let_finish_before_it_is_stopped(tmp_path: Path) -> None:
    command, note = stand_in(tmp_path, "busy")
    guard = subprocess.Popen([*GUARD, "10", *command])
    wait_for(Path(f"{note}.pid"))
    guard.send_signal(signal.SIGTERM)
    assert guard.wait(15) == 0
    assert float(Path(f"{note}.at").read_text()) >= float(Path(f"{note}.idle").read_text())


def test_a_database_that_does_not_close_is_killed_after_the_grace(tmp_path: Path) -> None:
    command, note = stand_in(tmp_path, "ignores")
    guard = subprocess.Popen([*GUARD, "1", *command], stderr=subprocess.PIPE)
    pid = int(wait_for(Path(f"{note}.pid")))
    started = time.monotonic()
    guard.send_signal(signal.SIGTERM)
    code = guard.wait(10)
    assert time.monotonic() - started >= 1.0  # it had its grace
    assert note.read_text() == "SIGTERM"
    assert code == 128 + signal.SIGKILL
    assert not alive(pid)
    assert guard.stderr is not None
    assert b"did not stop within 1 s" in guard.stderr.read()


def test_the_database_goes_when_medrec_is_killed(tmp_path: Path) -> None:
    """kill -9 of the process that started the guard: the guard notices and stops the
    database cleanly (the parent-death signal, or its parent changing)."""
    command, note = stand_in(tmp_path, "exits")
    medrec = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time; subprocess.Popen(sys.argv[1:]); time.sleep(60)",
            *GUARD,
            "10",
            *command,
        ]
    )
    pid = int(wait_for(Path(f"{note}.pid")))
    medrec.kill()
    medrec.wait()
    assert wait_for(note) == "SIGTERM"
    deadline = time.monotonic() + 10
    while alive(pid):
        assert time.monotonic() < deadline, "the stand-in database outlived medrec"
        time.sleep(0.05)


def test_usage() -> None:
    done = subprocess.run([*GUARD], capture_output=True, check=False)
    assert done.returncode == 2
    assert b"usage" in done.stderr
