"""Stands between medrec and its embedded database, and takes the database down with medrec.

    python -m fhir_server.storage.db_guard GRACE_S COMMAND...

Runs COMMAND (``secantusd-py ...``) as its child and waits for it. When asked to stop (SIGTERM
or SIGINT: medrec's orderly stop, or the kernel's parent-death signal when medrec is killed)
it waits (at most IDLE_LIMIT_S) for the database to finish what it is doing, passes SIGTERM
on, lets the database close cleanly for GRACE_S seconds, then kills it.

Why not let the kernel signal the database directly: SecantusDB's SIGTERM handler could hang in
its shutdown on a loaded machine (an orphan that outlived a killed medrec by more than 45 s,
holding the data directory). And why not SIGKILL at once: a transaction committed in the last
moments before a SIGKILL was lost (its journal record is written to disk in the background,
within about half a second); a clean close keeps it. After GRACE_S seconds every commit is on
disk either way.

Standard library only: it starts in a few milliseconds and imports nothing of medrec's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from types import FrameType

POLL_S = 0.2
IDLE_WINDOW_S = 0.25
IDLE_TICKS = 1  # CPU ticks (10 ms) per window that still count as idle
IDLE_LIMIT_S = 5.0  # waited at most for that, before SIGTERM


def set_parent_death_signal(signum: int) -> None:
    """Linux: the kernel sends ``signum`` to this process when its parent dies."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signum)


def _database_dies_with_guard() -> None:
    # If the guard itself is killed, the database still gets a clean stop.
    set_parent_death_signal(signal.SIGTERM)


def run(grace_s: float, command: list[str]) -> int:
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    parent = os.getppid()
    database = subprocess.Popen(command, preexec_fn=_database_dies_with_guard)
    while database.poll() is None:
        if stopping or os.getppid() != parent:  # asked to, or medrec is gone
            return _stop(database, grace_s)
        time.sleep(POLL_S)
    return database.returncode


def _stop(database: subprocess.Popen[bytes], grace_s: float) -> int:
    _wait_until_idle(database.pid, IDLE_LIMIT_S)
    database.send_signal(signal.SIGTERM)
    try:
        return database.wait(grace_s)
    except subprocess.TimeoutExpired:
        print(
            f"db_guard: the database did not stop within {grace_s:.0f} s of SIGTERM; killing it",
            file=sys.stderr,
            flush=True,
        )
        database.kill()
        return database.wait()


def _wait_until_idle(pid: int, limit_s: float) -> None:
    """Until the database has used (almost) no CPU for a moment, at most ``limit_s``: a
    statement still running for a client that has gone must end before the shutdown aborts
    the open transactions. (This was added when a crash test found part of a killed medrec's
    transaction on disk; re-examined, that transaction had most likely committed just before
    the kill: the test now kills while the database is still writing. The wait costs at most
    IDLE_LIMIT_S at a stop and is kept.)"""
    deadline = time.monotonic() + limit_s
    before = _cpu_ticks(pid)
    while before is not None and time.monotonic() < deadline:
        time.sleep(IDLE_WINDOW_S)
        now = _cpu_ticks(pid)
        if now is None or now - before <= IDLE_TICKS:
            return
        before = now


def _cpu_ticks(pid: int) -> int | None:
    """utime + stime of ``pid`` in clock ticks (Linux); None when it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python -m fhir_server.storage.db_guard GRACE_S COMMAND...", file=sys.stderr)
        return 2
    code = run(float(argv[0]), argv[1:])
    return 128 - code if code < 0 else code  # killed by signal N: 128 + N, as shells say


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
