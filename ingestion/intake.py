"""Receiving a scan file: streamed to a temporary file in the ingest directory, hashed as it
comes, refused past a size limit or when it is not a PNG, JPEG, TIFF or PDF (judged by its
first bytes), then kept under its SHA-256 (the same file twice is one file)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ingestion.scans.errors import UnsupportedFormat
from ingestion.scans.rasterize import sniff

SNIFF_BYTES = 1024
COPY_CHUNK = 1024 * 1024


class RefusedFile(ValueError):
    """Not kept: empty, too large, or not a scan (the message says which)."""


class TooLargeFile(RefusedFile):
    pass


@dataclass(frozen=True, slots=True)
class Stored:
    path: Path
    sha256: str
    size: int


class Intake:
    def __init__(self, directory: Path, limit: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=directory, prefix=".upload-")
        self._file: BinaryIO = os.fdopen(handle, "wb")
        self._path = Path(name)
        self._directory = directory
        self._limit = limit
        self._hash = hashlib.sha256()
        self._head = b""
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self._limit:
            raise TooLargeFile(f"the file is larger than {self._limit} bytes")
        if len(self._head) < SNIFF_BYTES:
            self._head += chunk[: SNIFF_BYTES - len(self._head)]
        self._hash.update(chunk)
        self._file.write(chunk)

    def finish(self) -> Stored:
        """Raises ``RefusedFile`` (and removes what was written)."""
        self._file.close()
        try:
            if not self.size:
                raise RefusedFile("the file is empty")
            sniff(self._head)
        except UnsupportedFormat as error:
            self.abort()
            raise RefusedFile(str(error)) from None
        except RefusedFile:
            self.abort()
            raise
        digest = self._hash.hexdigest()
        path = self._directory / digest
        os.replace(self._path, path)  # the same file received twice: the same bytes
        return Stored(path, digest, self.size)

    def abort(self) -> None:
        self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()


def copy_file(source: Path, directory: Path, limit: int) -> Stored:
    intake = Intake(directory, limit)
    try:
        with source.open("rb") as file:
            while chunk := file.read(COPY_CHUNK):
                intake.write(chunk)
        return intake.finish()
    except BaseException:
        intake.abort()
        raise
