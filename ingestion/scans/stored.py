"""Stored scans as the FHIR ``Binary`` read serves them (``fhir_server.api.binary``): the
vault's plaintext of a Binary that names a blob.

The key is loaded on the first scan read, not when the app starts: an app that never serves a
scan must not generate a key file (``vault.load_key`` writes one when none is configured).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from fhir_server.errors import FhirError
from ingestion.scans.vault import BLOB_EXTENSION, ScanUnreadable, ScanVault, blob_of, load_key

log = logging.getLogger(__name__)


class StoredScanError(FhirError):
    """A stored scan that cannot be given back intact: a server fault, never the client's."""

    def __init__(self, message: str) -> None:
        super().__init__(message, [], 500, "exception")


class StoredScans:
    pointer = BLOB_EXTENSION

    def __init__(self, db: AsyncDatabase[Any], key: str | None, data_dir: Path) -> None:
        self._db = db
        self._key = key
        self._data_dir = data_dir
        self._vault: ScanVault | None = None

    async def content(self, binary: dict[str, Any]) -> memoryview | None:
        blob = blob_of(binary)
        if blob is None:
            return None
        if self._vault is None:
            key = await asyncio.to_thread(load_key, self._key, self._data_dir)
            self._vault = ScanVault(self._db, key)
        try:
            return await self._vault.open(blob)
        except ScanUnreadable as error:
            log.error("Binary/%s: %s", binary.get("id"), error)  # the blob's state, no content
            raise StoredScanError(f"The stored scan {error.problem}") from None
