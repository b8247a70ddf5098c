"""Stands between medrec and its embedded database, and takes the database down with medrec.

    python -m fhir_server.storage.db_guard GRACE_S COMMAND...

Runs COMMAND (``secantusd-py ...``) as its child and waits for it. When asked to stop (SIGTERM
or SIGINT: medrec's orderly stop, or the kernel's parent-death signal when medrec is killed)
it passes SIGTERM on, lets the database close cleanly for GRACE_S seconds, then kills it.

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


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python -m fhir_server.storage.db_guard GRACE_S COMMAND...", file=sys.stderr)
        return 2
    code = run(float(argv[0]), argv[1:])
    return 128 - code if code < 0 else code  # killed by signal N: 128 + N, as shells say


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
