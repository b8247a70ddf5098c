"""The embedded default database: SecantusDB's ``secantusd-py`` as a separate process.

SecantusDB is GPL-2.0, so medrec never imports it: we start its command-line server, talk to it
through the ordinary MongoDB driver, and stop it on exit.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from fhir_server.storage import db_guard
from fhir_server.storage.db_guard import set_parent_death_signal

log = logging.getLogger(__name__)
GUARD_GRACE_S = 15.0  # for the database to close cleanly once medrec has stopped or died


class EmbeddedDatabaseError(RuntimeError):
    pass


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _server_command() -> str:
    beside_python = Path(sys.executable).parent / "secantusd-py"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("secantusd-py")
    if found is None:
        raise EmbeddedDatabaseError(
            "secantusd-py not found: install the 'secantusdb' package, or set MEDREC_MONGODB_URI"
        )
    return found


def _die_with_parent() -> None:
    """Linux: the kernel tells the guard (and so the database) when medrec itself is killed."""
    set_parent_death_signal(signal.SIGTERM)


class EmbeddedDatabase:
    """Start on enter, stop on exit. ``uri`` is valid in between."""

    def __init__(self, data_dir: Path, host: str = "127.0.0.1", startup_timeout: float = 60.0):
        self.data_dir = data_dir
        self.host = host
        self.startup_timeout = startup_timeout
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        # retryWrites=false: SecantusDB 0.7 keeps every retryable write's reply for 30 minutes
        # and scans (past 10,000 of them: sorts) that table on every write, so throughput fell
        # from ~1,300 to ~110 inserts/s after 10,000 writes. A retry only helps across a
        # failover, which a single local process does not have; real clusters keep the default.
        return f"mongodb://{self.host}:{self.port}/?directConnection=true&retryWrites=false"

    def start(self) -> str:
        storage = self.data_dir / "db"
        storage.mkdir(parents=True, exist_ok=True)
        self.port = free_port(self.host)
        log_path = self.data_dir / "db.log"
        # Through the guard (db_guard.py): it stops the database when medrec stops or dies,
        # and kills it if it has not closed within GUARD_GRACE_S.
        command = [
            sys.executable, "-I", str(Path(db_guard.__file__)), str(GUARD_GRACE_S),
            _server_command(),
            "--host", self.host,
            "--port", str(self.port),
            "--storage-path", str(storage),
            "--log-level", "WARNING",
        ]  # fmt: skip
        with log_path.open("ab") as log_file:
            self._process = subprocess.Popen(
                command,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                # Its own process group: a Ctrl-C in our terminal must not kill it before we
                # have closed our connections; we stop it ourselves.
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        self._wait_until_ready(log_path)
        log.info("embedded database listening on %s:%s (%s)", self.host, self.port, storage)
        return self.uri

    def _wait_until_ready(self, log_path: Path) -> None:
        deadline = time.monotonic() + self.startup_timeout
        client: MongoClient[dict[str, object]] = MongoClient(
            self.uri, serverSelectionTimeoutMS=250, connectTimeoutMS=250
        )
        try:
            while time.monotonic() < deadline:
                assert self._process is not None
                if self._process.poll() is not None:
                    tail = log_path.read_text(errors="replace")[-2000:]
                    code = self._process.returncode
                    raise EmbeddedDatabaseError(
                        f"the embedded database exited with code {code}:\n{tail}"
                    )
                try:
                    client.admin.command("ping")
                    return
                except PyMongoError:
                    time.sleep(0.1)
        finally:
            client.close()
        self.stop()
        raise EmbeddedDatabaseError(
            f"the embedded database did not answer within {self.startup_timeout:.0f} s"
        )

    def stop(self, timeout: float = GUARD_GRACE_S + db_guard.IDLE_LIMIT_S + 5) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("embedded database did not stop in %.0f s; killing it", timeout)
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    @property
    def pid(self) -> int | None:
        """The database server's own process (the guard's child), e.g. to measure its CPU."""
        if self._process is None:
            return None
        children = Path(f"/proc/{self._process.pid}/task/{self._process.pid}/children")
        try:
            found = children.read_text().split()
        except OSError:  # not Linux, or the guard has gone
            return None
        return int(found[0]) if found else None

    @property
    def guard_pid(self) -> int | None:
        return self._process.pid if self._process else None

    def __enter__(self) -> EmbeddedDatabase:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextmanager
def database_uri(mongodb_uri: str | None, data_dir: Path) -> Iterator[str]:
    """The configured MongoDB, or else the embedded one, started for the duration."""
    if mongodb_uri:
        yield mongodb_uri
        return
    with EmbeddedDatabase(data_dir) as embedded:
        yield embedded.uri
