"""The files ``medrec load`` reads: which ones (folders walked), their fingerprint, their lines."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SUFFIXES = (".json", ".ndjson")
# Synthea writes the organizations and practitioners that patient bundles reference
# conditionally (``Organization?identifier=...``) in these files: load them first.
FIRST = ("hospitalInformation", "practitionerInformation")
CHUNK = 1024 * 1024


def find_files(paths: list[Path]) -> list[Path]:
    """The files named, and the ``.json`` / ``.ndjson`` files under the folders named, in load
    order; each once."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            under = [p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES]
            found += sorted(under, key=lambda p: (not p.name.startswith(FIRST), str(p)))
        else:
            found.append(path)
    unique: dict[Path, Path] = {}
    for path in found:  # the same file named twice (``a.ndjson`` and its folder): once
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


def is_ndjson(path: Path) -> bool:
    return path.suffix.lower() == ".ndjson"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Line:
    number: int  # 1-based, as editors show it
    text: bytes | None  # None: longer than the limit (skipped, not read whole)
    end: int  # byte offset after the line, for the progress bar


def read_lines(path: Path, max_line_bytes: int, after: int = 0) -> Iterator[Line]:
    """The non-blank lines of an NDJSON file, streamed: one line in memory at a time, never
    more than ``max_line_bytes`` of it. Lines up to number ``after`` are skipped (resuming)."""
    number = 0
    with path.open("rb") as stream:
        while True:
            text = stream.readline(max_line_bytes + 1)
            if not text:
                return
            number += 1
            too_long = len(text) > max_line_bytes and not text.endswith(b"\n")
            if too_long:
                while (rest := stream.readline(CHUNK)) and not rest.endswith(b"\n"):
                    pass  # skip the rest of the overlong line without holding it
            if number <= after or not text.strip():
                continue
            yield Line(number, None if too_long else text, stream.tell())
