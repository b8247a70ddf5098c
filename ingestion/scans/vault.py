"""Scans at rest: AES-256-GCM ciphertext in ``medrec_scan_blobs``, never plaintext in FHIR.

A scanned page is patient data in its rawest form, so the ``Binary`` that stands for it carries
no ``data``: it names its blob in an extension (``BLOB_EXTENSION``), and the blob holds the
ciphertext, in chunks below MongoDB's 16 MiB document limit. Chunks are plain documents written
in the caller's session, so a scan is stored in the same transaction as its FHIR resources (a
GridFS upload is not part of a transaction on every server we support). Each blob has its own
random 96-bit nonce; the blob id is the associated data, so a chunk moved to another blob does
not decrypt.

The key is 32 bytes, base64, from ``MEDREC_SCAN_KEY``. Unset, one is generated into
``<data dir>/scan.key`` on first use (and said so in the log): every process sharing the
database must then share that file; losing it loses every stored scan.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bson.binary import Binary
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import CollectionInvalid

log = logging.getLogger(__name__)

COLLECTION = "medrec_scan_blobs"
BLOB_EXTENSION = "https://medrec.dev/fhir/StructureDefinition/encrypted-blob"
KEY_FILE = "scan.key"
CHUNK_BYTES = 8 * 1024 * 1024
NONCE_BYTES = 12
INTEGRITY = "failed its integrity check"
TAG_BYTES = 16  # AESGCM appends its tag to the ciphertext


def blob_of(binary: dict[str, Any]) -> str | None:
    """The blob a ``Binary`` names (``resources.binary``), or None for any other Binary."""
    for extension in binary.get("_data", {}).get("extension", []):
        if extension.get("url") == BLOB_EXTENSION and isinstance(extension.get("valueString"), str):
            return str(extension["valueString"])
    return None


class ScanKeyError(ValueError):
    """The configured key is not 32 bytes of base64."""


class ScanUnreadable(Exception):
    """A blob that is missing, incomplete or fails authentication (altered, or another key).
    ``problem`` says which, never anything of its content."""

    def __init__(self, blob_id: str, problem: str) -> None:
        super().__init__(f"scan blob {blob_id} {problem}")
        self.problem = problem


def parse_key(text: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ScanKeyError("MEDREC_SCAN_KEY is not base64") from None
    if len(key) != 32:
        raise ScanKeyError("MEDREC_SCAN_KEY must be 32 bytes (AES-256), base64-encoded")
    return key


def load_key(configured: str | None, data_dir: Path) -> bytes:
    """The configured key, else the one in the data dir, else a new one written there."""
    if configured:
        return parse_key(configured)
    path = data_dir / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        text = base64.b64encode(secrets.token_bytes(32)).decode("ascii")
        try:
            # O_EXCL: two processes starting at once keep the first one's key.
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(handle, "w") as file:
                file.write(text + "\n")
            log.warning(
                "MEDREC_SCAN_KEY is unset: generated a scan encryption key in %s. Back it up "
                "and share it with every medrec process of this database: without it the "
                "stored scans cannot be read.",
                path,
            )
    return parse_key(path.read_text())


@dataclass(frozen=True, slots=True)
class SealedBlob:
    """A scan encrypted, ready to store (``ScanVault.store``) in the transaction that writes
    the Binary naming it."""

    id: str
    size: int  # plaintext bytes
    chunks: tuple[dict[str, Any], ...]


class ScanVault:
    def __init__(self, db: AsyncDatabase[Any], key: bytes) -> None:
        self._coll = db[COLLECTION]
        self._key = key
        self._aead = AESGCM(key)

    async def ensure(self) -> None:
        """The collection exists before a transaction writes to it."""
        db = self._coll.database
        if COLLECTION not in await db.list_collection_names():
            with contextlib.suppress(CollectionInvalid):  # created meanwhile by another process
                await db.create_collection(COLLECTION)

    def seal(self, data: bytes, content_type: str) -> SealedBlob:
        blob_id = secrets.token_hex(16)
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, data, blob_id.encode("ascii"))
        parts = [sealed[i : i + CHUNK_BYTES] for i in range(0, len(sealed), CHUNK_BYTES)]
        chunks = [
            {"_id": f"{blob_id}/{n}", "blob": blob_id, "n": n, "data": Binary(part)}
            for n, part in enumerate(parts)
        ]
        chunks[0].update(
            {"nonce": Binary(nonce), "chunks": len(parts), "contentType": content_type}
        )
        return SealedBlob(blob_id, len(data), tuple(chunks))

    async def store(self, blob: SealedBlob, session: AsyncClientSession | None = None) -> None:
        await self._coll.insert_many([dict(chunk) for chunk in blob.chunks], session=session)

    async def get(self, blob_id: str) -> bytes | None:
        """The plaintext, or None when there is no such blob (or it was tampered with)."""
        try:
            return bytes(await self.open(blob_id))
        except ScanUnreadable:
            return None

    async def open(self, blob_id: str) -> memoryview:
        """The plaintext, authenticated before it is returned: nothing of an altered blob is
        ever handed out. Decrypted chunk by chunk into one buffer, so the ciphertext is not
        joined into a second copy first."""
        chunks = [doc async for doc in self._coll.find({"blob": blob_id}).sort("n", 1)]
        if not chunks or chunks[0].get("chunks") != len(chunks):
            raise ScanUnreadable(blob_id, "is missing or incomplete")
        views = [memoryview(doc["data"]) for doc in chunks]
        size = sum(len(view) for view in views) - TAG_BYTES
        if size < 0:
            raise ScanUnreadable(blob_id, INTEGRITY)
        decryptor = Cipher(
            algorithms.AES(self._key), modes.GCM(bytes(chunks[0]["nonce"]))
        ).decryptor()
        decryptor.authenticate_additional_data(blob_id.encode("ascii"))
        plain = bytearray(size + 15)  # update_into wants a block's room to spare
        done = 0
        for view in views:
            part = view[: max(size - done, 0)]
            done += decryptor.update_into(part, memoryview(plain)[done:])
        try:
            decryptor.finalize_with_tag(_tail(views, TAG_BYTES))
        except InvalidTag:  # a wrong key or altered bytes
            raise ScanUnreadable(blob_id, INTEGRITY) from None
        return memoryview(plain)[:size]


def _tail(views: list[memoryview], length: int) -> bytes:
    """The last ``length`` bytes across the chunks (the tag may straddle two)."""
    tail = b""
    for view in reversed(views):
        tail = bytes(view[-(length - len(tail)) :]) + tail
        if len(tail) == length:
            break
    return tail
