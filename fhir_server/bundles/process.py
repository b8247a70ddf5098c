"""Running a bundle's entries: a transaction all or nothing in one MongoDB transaction, a
batch entry by entry. Both answer with one response entry per request entry, in order."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import parse_qsl

import orjson
from pymongo.asynchronous.client_session import AsyncClientSession

from fhir_server.api.patch import entry_patcher
from fhir_server.bundles.conditional import claim, matching_ids
from fhir_server.bundles.entries import ORDER, Entry
from fhir_server.bundles.references import (
    URN,
    check_resolved,
    may_hold_placeholders,
    replace_placeholders,
    resolve_conditional,
)
from fhir_server.config import Settings
from fhir_server.errors import (
    FhirError,
    Invalid,
    Issue,
    NotFound,
    NotSupported,
    PreconditionFailed,
)
from fhir_server.model.ids import check_id, new_id
from fhir_server.search.codes import CodeSets
from fhir_server.search.searchset import search_type
from fhir_server.storage.repository import Repository
from fhir_server.storage.transactions import run_transaction
from fhir_server.storage.versions import Version


@dataclass
class Outcome:
    """One response entry: the status line, and the version it produced or read, or the
    resource it answers with (a search's Bundle)."""

    status: str
    version: Version | None = None
    error: FhirError | None = None
    body: bytes | None = None


class Processor:
    def __init__(
        self,
        repository: Repository,
        codes: CodeSets | None,
        settings: Settings | None = None,
        base: str = "",
    ) -> None:
        """``settings`` and ``base`` (the public FHIR base URL, for links): for search entries,
        which are refused without them."""
        self.repository = repository
        self.codes = codes
        self.settings = settings
        self.base = base

    # -- transaction ---------------------------------------------------------------------------

    async def transaction(
        self,
        entries: list[Entry],
        *,
        within: Callable[[AsyncClientSession], Awaitable[None]] | None = None,
    ) -> list[Outcome]:
        """All entries or none, in one MongoDB transaction. ``within``: a write of the
        caller's that must commit with them (an HL7 v2 message's key, say), run first."""
        for rtype in {entry.rtype for entry in entries}:
            await self.repository.collections.current(rtype)  # no index creation inside

        async def attempt(session: AsyncClientSession) -> list[Outcome]:
            # Conditions are searched in the transaction's snapshot: a retry after a conflict
            # sees what the winner wrote.
            if within is not None:
                await within(session)
            prepared = await self._prepare(entries, session)
            return await self._run_all(prepared, session)

        return await run_transaction(self.repository.collections.db.client, attempt)

    async def _run_all(self, entries: list[Entry], session: AsyncClientSession) -> list[Outcome]:
        outcomes: dict[int, Outcome] = {}
        creates = [e for e in entries if e.method == "POST"]
        for entry in sorted(entries, key=lambda e: (ORDER.get(e.method, 0), e.index)):
            if entry.method == "POST":
                if entry is creates[0]:  # all creates at once, in their turn in the order
                    outcomes.update(await self._create_all(creates, session))
                continue
            try:
                outcomes[entry.index] = await self._run(entry, session)
            except FhirError as error:
                raise _naming(error, entry) from None
        return [outcomes[index] for index in sorted(outcomes)]

    async def _create_all(
        self, entries: list[Entry], session: AsyncClientSession
    ) -> dict[int, Outcome]:
        """The creates of a transaction in a few round trips (one insert per type)."""
        db = self.repository.collections.db
        items = []
        for entry in entries:
            assert entry.resource is not None and entry.rid is not None
            if entry.if_none_exist:
                await claim(db, entry.rtype, entry.if_none_exist, entry.rid, session)
            items.append((entry.resource, entry.rtype, entry.rid))
        try:
            versions = await self.repository.create_many(items, session=session)
        except FhirError as error:
            # name the entry: find the first one that fails alone
            for entry in entries:
                try:
                    self.repository.validate(entry.resource or {}, entry.rtype)
                except FhirError as single:
                    raise _naming(single, entry) from None
            raise error
        return {e.index: Outcome("201 Created", v) for e, v in zip(entries, versions, strict=True)}

    async def _prepare(
        self, entries: list[Entry], session: AsyncClientSession | None
    ) -> list[Entry]:
        """Ids for the entries that create, conditions resolved, placeholders replaced."""
        mapping: dict[str, str] = {}
        ready: list[Entry] = []
        for entry in entries:
            try:
                entry = await self._target(entry, session)
            except FhirError as error:
                raise _naming(error, entry) from None
            if entry.full_url and entry.rid:
                mapping[entry.full_url] = f"{entry.rtype}/{entry.rid}"
            ready.append(entry)
        writes = ("PUT", "POST", "PATCH", "DELETE")
        seen: set[tuple[str, str | None]] = set()
        duplicate = None
        for target in ((e.rtype, e.rid) for e in ready if e.method in writes):
            if target in seen:
                duplicate = target
                break
            seen.add(target)
        if duplicate is not None:
            raise Invalid(f"{duplicate[0]}/{duplicate[1]} is the target of several entries")
        urns_only = all(full_url.startswith("urn:") for full_url in mapping)
        return [await self._with_references(entry, mapping, urns_only, session) for entry in ready]

    async def _target(self, entry: Entry, session: AsyncClientSession | None) -> Entry:
        """The entry with the id it writes: a new one for a create, the one its condition
        finds; a create whose If-None-Exist finds a resource becomes a no-op ("200 OK")."""
        if entry.method == "POST":
            if entry.if_none_exist:
                found = await self._match(entry.rtype, entry.if_none_exist, session)
                if found:
                    return dataclasses.replace(entry, method="GET", rid=found, resource=None)
            return dataclasses.replace(entry, rid=new_id())
        if entry.query is not None and entry.method in ("PUT", "PATCH", "DELETE"):
            found = await self._match(entry.rtype, entry.query, session)
            if found is None and entry.method == "DELETE":
                return dataclasses.replace(entry, method="NONE")
            if entry.method == "PATCH":
                if found is None:
                    raise NotFound(f"The condition {entry.rtype}?{entry.query[:80]} finds nothing")
                return dataclasses.replace(entry, rid=found, query=None)
            given = entry.resource.get("id") if entry.resource is not None else None
            if found is not None and given not in (None, found):
                raise Invalid(f"The resource's id {str(given)[:64]!r} is not the id of the match")
            # no match: an update as create, with the body's id when it has one
            rid = found or (check_id(given) if isinstance(given, str) else new_id())
            return dataclasses.replace(entry, rid=rid, query=None)
        return entry

    async def _match(
        self, rtype: str, query: str, session: AsyncClientSession | None = None
    ) -> str | None:
        ids = await matching_ids(self.repository, rtype, query, self.codes, session)
        if len(ids) > 1:
            raise PreconditionFailed(f"The condition {rtype}?{query[:80]} matches several")
        return ids[0] if ids else None

    async def _with_references(
        self,
        entry: Entry,
        mapping: dict[str, str],
        urns_only: bool,
        session: AsyncClientSession | None,
    ) -> Entry:
        if entry.resource is None:
            return entry
        # The walks below are skipped for a resource whose JSON cannot hold what they look for
        # (one orjson.dumps is far cheaper than three walks in Python).
        text = orjson.dumps(entry.resource, default=str)  # default: Decimals
        resource = entry.resource
        if may_hold_placeholders(text, mapping, urns_only):
            resource = replace_placeholders(resource, mapping)

        async def resolve(rtype: str, query: str) -> str:
            found = await self._match(rtype, query, session)
            if found is None:
                raise Invalid(f"{entry.label}: the reference {rtype}?{query[:80]} finds nothing")
            return f"{rtype}/{found}"

        if b"?" in text:
            resource = await resolve_conditional(resource, resolve)
        if URN in text:
            check_resolved(resource, entry.label)
        if entry.method in ("POST", "PUT"):
            resource["id"] = entry.rid
        return dataclasses.replace(entry, resource=resource)

    async def _run(self, entry: Entry, session: AsyncClientSession | None) -> Outcome:
        if entry.is_search:
            return await self._search(entry, session)
        repository = self.repository
        assert entry.rid is not None or entry.method == "NONE"
        if entry.method == "NONE":  # a conditional delete that found nothing
            return Outcome("204 No Content")
        rid = str(entry.rid)
        if entry.method == "DELETE":
            deleted = await repository.delete(
                entry.rtype, rid, if_match=entry.if_match, session=session
            )
            return Outcome("204 No Content", deleted)
        if entry.method == "POST" and entry.if_none_exist and session is not None:
            db = self.repository.collections.db
            await claim(db, entry.rtype, entry.if_none_exist, rid, session)
        if entry.method == "POST":  # a fresh id: one insert, no lookup
            assert entry.resource is not None
            created = await repository.create(entry.resource, entry.rtype, session=session, rid=rid)
            return Outcome("201 Created", created)
        if entry.method == "PUT":
            assert entry.resource is not None
            result = await repository.update(
                entry.resource, entry.rtype, rid, if_match=entry.if_match, session=session
            )
            status = "201 Created" if result.created else "200 OK"
            return Outcome(status, result.version)
        if entry.method == "PATCH":
            apply = entry_patcher(entry.resource)
            patched = await repository.patch(
                entry.rtype, rid, apply, if_match=entry.if_match, session=session
            )
            return Outcome("200 OK", patched)
        return Outcome("200 OK", await repository.read(entry.rtype, rid, session=session))

    async def _search(self, entry: Entry, session: AsyncClientSession | None) -> Outcome:
        """``GET Type?search``: the searchset Bundle ``GET /Type?search`` answers, searched
        in the transaction's snapshot when there is one."""
        if self.settings is None:
            raise NotSupported("Search entries are answered in bundles posted to the REST API")
        params = parse_qsl(entry.query or "", keep_blank_values=True)
        bundle = await search_type(
            self.repository,
            self.codes,
            self.settings,
            self.base,
            entry.rtype,
            params,
            session=session,
        )
        return Outcome("200 OK", body=None if entry.method == "HEAD" else bundle)

    # -- batch -------------------------------------------------------------------------------

    async def batch(self, entries: list[Entry]) -> list[Outcome]:
        outcomes = []
        for entry in entries:
            try:
                if entry.method == "POST" and entry.if_none_exist:
                    # Race-safe only inside a transaction (see conditional.claim).
                    outcomes += await self.transaction([dataclasses.replace(entry, index=0)])
                    continue
                ready = await self._with_references(await self._target(entry, None), {}, True, None)
                outcomes.append(await self._run(ready, None))
            except FhirError as error:
                outcomes.append(Outcome(_status_line(error.status), None, _naming(error, entry)))
        return outcomes


def _naming(error: FhirError, entry: Entry) -> FhirError:
    """The same error (status, code, issues), its first issue naming the entry."""
    message = f"{entry.label}: {error.message}"
    issues = [Issue(error.code, message), *error.issues]
    return FhirError(message, issues, error.status, error.code, error.headers)


def _status_line(status: int) -> str:
    return f"{status} {HTTPStatus(status).phrase}"
