"""The audit trail's write-ahead journal: each AuditEvent is appended here, as one JSON line,
before its response is released; the database copy (the hash chain) is written after, in the
background (``trail.py``). An access is thus on record before anyone sees its answer, without
the answer waiting for the database.

Each process writes its own files (``<instance>-<n>.jsonl``, the instance unique per process
start) and holds an exclusive ``flock`` on each until every event in it is stored; then the
file is removed. A file grows to ``ROTATE_BYTES`` at most, then the next one begins. A file
nobody holds a lock on is an orphan: its process ended before storing all of it, and the next
medrec to start on the directory adopts it (see ``AuditTrail``).

Lines are written without fsync, as the database's own default commits are: a journal survives
the process crashing or being killed (the lines are in the kernel's page cache), not the machine
losing power.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger(__name__)
SUFFIX = ".jsonl"
ROTATE_BYTES = 4 * 1024 * 1024

Event = dict[str, Any]


@dataclass(eq=False)
class Segment:
    """One journal file, open and locked while any of its events may be unstored."""

    path: Path
    fd: int
    appended: int = 0  # events written to it
    stored: int = 0  # of those, events now in the database
    size: int = 0
    sealed: bool = False  # no more events go in


@dataclass
class Orphan:
    """A journal file left by a process that ended, now locked by this one."""

    segment: Segment
    events: list[Event] = field(default_factory=list)


class Journal:
    def __init__(self, directory: Path) -> None:
        """``directory`` is created on the first append: a medrec whose journal cannot be
        written still starts (and answers 503, see the audit middleware)."""
        self.directory = directory
        self._instance = f"{os.getpid()}-{secrets.token_hex(6)}"
        self._opened = 0
        self._current: Segment | None = None
        self._segments: list[Segment] = []  # every open one, adopted orphans included

    def append(self, event: Event) -> Segment:
        """Write ``event`` as one line; the segment it went into. Raises OSError when it could
        not be written whole."""
        line = orjson.dumps(event) + b"\n"
        segment = self._current or self._open()
        try:
            written = os.write(segment.fd, line)
        except OSError:
            self._seal(segment)  # a partial line may be there: nothing goes after it
            raise
        if written != len(line):
            self._seal(segment)
            raise OSError(errno.ENOSPC, "short write to the audit journal")
        segment.appended += 1
        segment.size += written
        if segment.size >= ROTATE_BYTES:
            self._seal(segment)
        return segment

    def stored(self, segment: Segment, count: int = 1) -> None:
        """``count`` more events of ``segment`` are in the database."""
        segment.stored += count
        if segment.sealed and segment.stored >= segment.appended:
            self._remove(segment)

    def orphans(self) -> list[Orphan]:
        """The files of processes that ended, each locked by this process from now on and
        read (a torn last line, from a process killed mid-write, is left out: its answer was
        never sent)."""
        own = {segment.path for segment in self._segments}
        found: list[Orphan] = []
        for path in sorted(self.directory.glob(f"*{SUFFIX}")):
            if path in own:
                continue
            fd = _lock(path)
            if fd is not None:
                events = _read(path)
                # All unstored until the trail has looked: kept if this process ends first.
                segment = Segment(path, fd, appended=len(events), sealed=True)
                self._segments.append(segment)
                found.append(Orphan(segment, events))
        return found

    def adopted(self, orphan: Orphan, unstored: int) -> None:
        """``unstored`` of the orphan's events are queued for the database: the file goes once
        they are stored (at once when none are)."""
        orphan.segment.appended = unstored
        self.stored(orphan.segment, 0)

    def close(self) -> None:
        """Release every file: those fully stored are removed, the others left for the next
        start to adopt. An append after this starts a new file."""
        for segment in list(self._segments):
            segment.sealed = True
            if segment.stored >= segment.appended:
                self._remove(segment)
            else:
                self._segments.remove(segment)
                os.close(segment.fd)
        self._current = None

    def _open(self) -> Segment:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._opened += 1
        path = self.directory / f"{self._instance}-{self._opened:06d}{SUFFIX}"
        # Created and locked under another name, then renamed: a medrec starting meanwhile
        # never sees the file unlocked (and takes it for an orphan).
        building = path.with_suffix(".new")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
        fd = os.open(building, flags, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.rename(building, path)
        except OSError:
            os.close(fd)
            raise
        segment = Segment(path, fd)
        self._segments.append(segment)
        self._current = segment
        return segment

    def _seal(self, segment: Segment) -> None:
        segment.sealed = True
        if self._current is segment:
            self._current = None
        self.stored(segment, 0)

    def _remove(self, segment: Segment) -> None:
        # Removed before it is unlocked: nobody can adopt a file whose events are all stored.
        with contextlib.suppress(FileNotFoundError):
            segment.path.unlink()
        os.close(segment.fd)
        self._segments.remove(segment)
        if self._current is segment:
            self._current = None


def _lock(path: Path) -> int | None:
    """An open, exclusively locked descriptor of ``path``; None when a live process holds it
    (or it is gone)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _read(path: Path) -> list[Event]:
    events: list[Event] = []
    torn = 0
    for line in path.read_bytes().splitlines():
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            torn += 1
            continue
        if isinstance(event, dict) and isinstance(event.get("id"), str):
            events.append(event)
        else:
            torn += 1
    if torn:
        log.warning("audit journal %s: %d unreadable line(s) left out", path.name, torn)
    return events
