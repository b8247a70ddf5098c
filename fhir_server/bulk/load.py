"""``medrec load``: FHIR Bundles and NDJSON files into the repository, through the same calls as
the REST API (validation, indexing, history): transaction and batch bundles run through the
bundle ``Processor``; a collection bundle's entries and NDJSON lines are written with
``Repository.update`` (they have an id: update-as-create) or ``Repository.create``.

Resumable: a record per file in ``medrec_load``, keyed by the file's SHA-256, says how far it
got. Entries and lines are written in batches, each batch in one MongoDB transaction together
with its record, so an interrupted file continues after its last committed line, and nothing is
written twice. A file recorded as done is skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from fhir_server.bulk.sources import is_ndjson, read_lines, sha256
from fhir_server.bundles.entries import parse_entries
from fhir_server.bundles.process import Processor
from fhir_server.errors import FhirError, Invalid
from fhir_server.model.json_input import parse_json, parse_resource
from fhir_server.model.resource_types import supported_types
from fhir_server.search.codes import CodeSets
from fhir_server.storage.index_format import mark_if_fresh
from fhir_server.storage.repository import Repository
from fhir_server.storage.transactions import run_transaction
from fhir_server.wiring import wire

STATE_COLLECTION = "medrec_load"
BATCH = 100  # resources per MongoDB transaction
MAX_REASONS = 5  # failure reasons kept per file
KINDS = ("transaction", "batch", "collection")

JsonObject = dict[str, Any]
# (file, units done, units in the file): entries of a bundle, bytes of an NDJSON file.
Progress = Callable[[Path, int, int], None]


@dataclass
class FileResult:
    path: Path
    status: str = "loaded"  # loaded | failed | skipped
    loaded: int = 0
    failed: int = 0
    reasons: list[str] = field(default_factory=list)
    note: str = ""

    def fail(self, where: str, message: str) -> None:
        self.failed += 1
        self.status = "failed"
        if len(self.reasons) < MAX_REASONS:
            self.reasons.append(f"{where}: {message}" if where else message)


async def open_repository(
    db: AsyncDatabase[dict[str, Any]], max_depth: int
) -> tuple[Repository, CodeSets]:
    """The repository as the app builds it: required bindings checked against the bundled and
    the site's stored terminology."""
    wired = wire(db, max_depth)
    await wired.load_site_terminology()
    return wired.repository, wired.terminology


@dataclass
class Loader:
    repository: Repository
    codes: CodeSets | None
    max_file_bytes: int
    max_line_bytes: int
    max_bundle_entries: int
    batch: int = BATCH
    restart: bool = False
    progress: Progress = lambda path, done, total: None

    @property
    def _state(self) -> Any:
        return self.repository.collections.db[STATE_COLLECTION]

    async def load(self, path: Path) -> FileResult:
        result = FileResult(path)
        await mark_if_fresh(self.repository.collections)
        try:
            digest = await asyncio.to_thread(sha256, path)
            size = (await asyncio.to_thread(path.stat)).st_size
        except OSError as error:
            result.fail("", f"cannot read the file ({error.strerror or type(error).__name__})")
            return result
        if self.restart:
            await self._state.delete_one({"_id": digest})
        state = await self._state.find_one({"_id": digest}) or {}
        if state.get("done"):
            return self._skipped(result, state)
        if is_ndjson(path):
            await self._ndjson(path, digest, size, state, result)
        elif size > self.max_file_bytes:
            result.fail(
                "",
                f"{size:,} bytes, more than the {self.max_file_bytes:,} a JSON file may have "
                "(--max-file-bytes); NDJSON files are streamed and have no such limit",
            )
        else:
            await self._json(path, digest, state, result)
        return result

    @staticmethod
    def _skipped(result: FileResult, state: JsonObject) -> FileResult:
        result.status = "skipped"
        result.loaded = state.get("loaded", 0)
        result.failed = state.get("failed", 0)
        result.reasons = list(state.get("reasons", []))
        result.note = "already loaded (same SHA-256)"
        return result

    # -- bundles --------------------------------------------------------------------------------

    async def _json(self, path: Path, digest: str, state: JsonObject, result: FileResult) -> None:
        try:
            bundle = parse_json(await asyncio.to_thread(path.read_bytes))
        except FhirError as error:
            result.fail("", error.message)
            return
        kind = bundle.get("type") if isinstance(bundle, dict) else None
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            result.fail("", "not a FHIR Bundle (a JSON file must hold one; use .ndjson for lines)")
        elif kind not in KINDS:
            result.fail("", f"a Bundle of type {str(kind)[:40]!r}; expected {', '.join(KINDS)}")
        elif kind == "collection":
            await self._collection(path, bundle, digest, state, result)
        else:
            await self._processed(path, bundle, str(kind), digest, result)

    async def _processed(
        self, path: Path, bundle: JsonObject, kind: str, digest: str, result: FileResult
    ) -> None:
        processor = Processor(self.repository, self.codes)
        try:
            entries = parse_entries(bundle, self.max_bundle_entries)
            if kind == "transaction":
                outcomes = await processor.transaction(entries)
            else:
                outcomes = await processor.batch(entries)
        except FhirError as error:
            # A transaction wrote nothing: no record, so a later run tries the file again.
            result.fail("", error.message)
            return
        for outcome in outcomes:
            if outcome.error is None:
                result.loaded += 1
            else:
                result.fail("", outcome.error.message)
        self.progress(path, len(outcomes), len(outcomes))
        await self._record(digest, result, len(outcomes), done=True)

    async def _collection(
        self, path: Path, bundle: JsonObject, digest: str, state: JsonObject, result: FileResult
    ) -> None:
        entries = bundle.get("entry", [])
        if not isinstance(entries, list):
            result.fail("", "Bundle.entry must be a list")
            return
        position = self._resume(state, result)
        pending: list[tuple[str, JsonObject]] = []
        for number, entry in enumerate(entries[position:], start=position + 1):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            where = f"entry[{number - 1}]"
            if isinstance(resource, dict) and _is_resource(resource):
                pending.append((where, resource))
            else:
                result.fail(where, "has no resource (a JSON object with a resourceType)")
            if len(pending) >= self.batch or number == len(entries):
                await self._commit(digest, pending, number, result)
                pending = []
                self.progress(path, number, len(entries))
        await self._record(digest, result, len(entries), done=True)

    # -- NDJSON ---------------------------------------------------------------------------------

    async def _ndjson(
        self, path: Path, digest: str, size: int, state: JsonObject, result: FileResult
    ) -> None:
        position = self._resume(state, result)
        pending: list[tuple[str, JsonObject]] = []
        last = position
        try:
            for line in read_lines(path, self.max_line_bytes, after=position):
                where, last = f"line {line.number}", line.number
                resource = self._line_resource(line.text, where, result)
                if resource is not None:
                    pending.append((where, resource))
                if len(pending) >= self.batch:
                    await self._commit(digest, pending, last, result)
                    pending = []
                    self.progress(path, line.end, size)
        except OSError as error:
            result.fail("", f"cannot read the file ({error.strerror or type(error).__name__})")
            return  # what was committed stays committed; a later run resumes after it
        await self._commit(digest, pending, last, result)
        self.progress(path, size, size)
        await self._record(digest, result, last, done=True)

    def _line_resource(self, text: bytes | None, where: str, result: FileResult) -> Any:
        if text is None:
            result.fail(where, f"longer than {self.max_line_bytes:,} bytes (MEDREC_MAX_BODY_BYTES)")
            return None
        try:
            resource = parse_resource(text)
        except FhirError as error:
            result.fail(where, error.message)
            return None
        if not _is_resource(resource):
            result.fail(where, "not a FHIR resource (no resourceType)")
            return None
        return resource

    # -- writing --------------------------------------------------------------------------------

    @staticmethod
    def _resume(state: JsonObject, result: FileResult) -> int:
        """Counts so far from an interrupted run; the position to continue after."""
        result.loaded = state.get("loaded", 0)
        result.failed = state.get("failed", 0)
        result.reasons = list(state.get("reasons", []))
        if result.failed:
            result.status = "failed"
        if state.get("position"):
            result.note = f"resumed after {state['position']:,}"
        return int(state.get("position", 0))

    async def _commit(
        self, digest: str, pending: list[tuple[str, JsonObject]], position: int, result: FileResult
    ) -> None:
        """Write ``pending`` and move the file's record to ``position``, in one transaction:
        a resource that fails validation is reported and the others are written."""
        for rtype in {r["resourceType"] for _, r in pending} & supported_types():
            await self.repository.collections.current(rtype)  # no index creation inside

        async def attempt(session: AsyncClientSession) -> FileResult:
            attempt_result = FileResult(
                result.path, result.status, result.loaded, result.failed, list(result.reasons)
            )
            for where, resource in pending:
                try:
                    await self._write(resource, session)
                    attempt_result.loaded += 1
                except FhirError as error:
                    attempt_result.fail(where, error.message)
            await self._record(digest, attempt_result, position, session=session)
            return attempt_result

        attempt_result = await run_transaction(self.repository.collections.db.client, attempt)
        result.status, result.loaded = attempt_result.status, attempt_result.loaded
        result.failed, result.reasons = attempt_result.failed, attempt_result.reasons

    async def _write(self, resource: JsonObject, session: AsyncClientSession) -> None:
        rtype, rid = str(resource["resourceType"]), resource.get("id")
        if rid is None:
            await self.repository.create(resource, rtype, session=session)
        elif isinstance(rid, str):
            await self.repository.update(resource, rtype, rid, session=session)
        else:
            raise Invalid("id must be a string")

    async def _record(
        self,
        digest: str,
        result: FileResult,
        position: int,
        *,
        done: bool = False,
        session: AsyncClientSession | None = None,
    ) -> None:
        # No path or file name: Synthea names files after the (synthetic) patient.
        record = {
            "position": position,
            "loaded": result.loaded,
            "failed": result.failed,
            "reasons": result.reasons,
            "done": done,
            "updated": datetime.now(UTC),
        }
        await self._state.update_one(
            {"_id": digest}, {"$set": record}, upsert=True, session=session
        )


def _is_resource(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("resourceType"), str)
