"""The repository: the one call every way in (REST, bundles, scans, HL7 v2) writes through.

Validation, compartment indexing and versioning happen here, once. MongoDB is only touched in
``storage/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from bson.binary import Binary
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.cursor import AsyncCursor
from pymongo.errors import DocumentTooLarge, DuplicateKeyError

from fhir_server.errors import Conflict, Gone, Invalid, NotFound, PreconditionFailed, TooLarge
from fhir_server.model.compartments import patient_compartments
from fhir_server.model.ids import check_id, new_id
from fhir_server.model.json_input import check_shape, dumps, to_plain
from fhir_server.model.resource_types import supported_types
from fhir_server.model.validation import Validator
from fhir_server.search.filters import Filter, with_alternatives
from fhir_server.search.index_plan import served_fields
from fhir_server.search.indexing import index_resource, last_updated_entries
from fhir_server.search.paging import after as keyset_after
from fhir_server.search.paging import field_value, in_order, key_of
from fhir_server.search.sorting import sort_values
from fhir_server.storage.collections import Collections, Document
from fhir_server.storage.history import HistoryPage, HistoryQuery, read_history
from fhir_server.storage.versions import Version, instant, utc_now_ms, version_from_document

JsonObject = dict[str, Any]
# Retries of an update that lost a race and has no If-Match to fail on.
MAX_WRITE_ATTEMPTS = 20
# create_many: resources prepared while the previous chunk is being stored, and how often the
# preparing lets the write in flight run (it needs the event loop to send its batch).
CREATE_CHUNK = 200
YIELD_EVERY = 16
SERVER_META = ("versionId", "lastUpdated")
# Server fields a reader never needs.
# What a version needs of a stored document (an inclusion projection costs the embedded
# database less than an exclusion one; rid: the id field of history documents).
_PAGE_PROJECTION = {"v": 1, "ts": 1, "del": 1, "res": 1, "raw": 1, "patch": 1, "rid": 1}
_PROJECTION = _PAGE_PROJECTION  # reads and searches alike


@dataclass(frozen=True, slots=True)
class WriteResult:
    version: Version
    created: bool


@dataclass(frozen=True, slots=True)
class SearchPage:
    versions: list[Version]
    next_key: list[Any] | None  # sort key of the last resource, when there are more
    first_key: list[Any] | None = None  # sort key of the first resource


@dataclass(slots=True)
class _Prepared:
    """A validated resource, waiting for its version number and timestamp."""

    plain: JsonObject  # floats: stored and searched
    exact: JsonObject | None  # Decimals with their digits, when the resource has any
    compartments: list[str]
    index: dict[str, Any]  # search parameter code -> stored index entries


# Told of each write once it is stored: (type, id, the new body, or None for a deletion).
ChangeListener = Callable[[str, str, bytes | None], None]


class Repository:
    def __init__(
        self,
        collections: Collections,
        validator: Validator,
        max_depth: int = 64,
        listeners: Sequence[ChangeListener] = (),
    ):
        self.collections = collections
        self.validator = validator
        self.max_depth = max_depth
        self.listeners = list(listeners)

    def _changed(self, version: Version) -> Version:
        # Inside a transaction (a session) this runs before the commit: listeners must cope
        # with a change that is later rolled back (the terminology cache reloads, say).
        for listener in self.listeners:
            listener(version.rtype, version.id, None if version.deleted else version.body)
        return version

    # -- reads -------------------------------------------------------------------------------

    async def read(
        self,
        rtype: str,
        rid: str,
        *,
        session: AsyncClientSession | None = None,
        within: str | None = None,
    ) -> Version:
        """``session``: inside a transaction, its own writes are seen. ``within``: only a
        resource in this patient's compartment (another is answered as unknown)."""
        check_type(rtype)
        coll = await self.collections.current(rtype)
        projection = _PROJECTION if within is None else {**_PROJECTION, "comp": 1}
        doc = await coll.find_one({"_id": rid}, projection, session=session)
        if doc is None or (within is not None and within not in doc.get("comp", ())):
            raise NotFound(f"{rtype}/{rid} is not known")
        version = version_from_document(rtype, doc)
        if version.deleted:
            raise Gone(f"{rtype}/{rid} was deleted", headers={"ETag": version.etag})
        return version

    async def vread(self, rtype: str, rid: str, vid: int) -> Version:
        check_type(rtype)
        coll = await self.collections.current(rtype)
        doc = await coll.find_one({"_id": rid}, _PROJECTION)
        if doc is None:
            raise NotFound(f"{rtype}/{rid} is not known")
        if doc["v"] != vid:
            if vid > doc["v"]:
                raise NotFound(f"{rtype}/{rid} has no version {vid}")
            history = await self.collections.history(rtype)
            doc = await history.find_one({"rid": rid, "v": vid}, _PROJECTION)
            if doc is None:
                raise NotFound(f"{rtype}/{rid} has no version {vid}")
            version = version_from_document(rtype, doc, "rid")
        else:
            version = version_from_document(rtype, doc)
        if version.deleted:
            raise Gone(f"version {vid} of {rtype}/{rid} is its deletion", {"ETag": version.etag})
        return version

    async def search(
        self,
        rtype: str,
        queries: list[Filter],
        sort: list[tuple[str, int]],
        count: int,
        after: list[Any] | None,
        *,
        session: AsyncClientSession | None = None,
    ) -> SearchPage:
        """One page of current resources matching one of ``queries`` (built by search/plan.py),
        in ``sort`` order, starting strictly after the sort key ``after``. ``session``: inside
        a transaction, search its snapshot."""
        check_type(rtype)
        coll = await self.collections.current(rtype)
        if after is not None:
            queries = with_alternatives(queries, keyset_after(sort, after))
        projection = {**_PAGE_PROJECTION, **{field: 1 for field, _ in sort}}
        docs: list[Document] = []
        seen: set[str] = set()
        for query in queries:
            found = coll.find(query, projection, session=session)
            cursor = _hinted(found, rtype, query, sort).sort(sort)
            for doc in await cursor.limit(count + 1).to_list():
                if doc["_id"] not in seen:
                    seen.add(doc["_id"])
                    docs.append(doc)
        if len(queries) > 1:
            docs = in_order(docs, sort)
        more = len(docs) > count
        docs = docs[:count]
        versions = [version_from_document(rtype, doc) for doc in docs]
        next_key = key_of(docs[-1], sort) if more and docs else None
        return SearchPage(versions, next_key, key_of(docs[0], sort) if docs else None)

    def permitted(self, rtype: str, interaction: str) -> bool:
        """May this repository's user do ``interaction`` (c r u d s) on ``rtype`` at all?
        Always, here; the request-scoped repository of ``smart_auth.guard`` says otherwise.
        Listings across types use it to leave out what they may not show."""
        return True

    async def stored_types(self) -> frozenset[str]:
        """The resource types that have a collection (something was ever stored)."""
        return frozenset(await self.collections.existing_types(supported_types()))

    async def collect(self, rtype: str, queries: list[Filter], field: str, limit: int) -> list[Any]:
        """The values of ``field`` (a dotted path) in at most ``limit`` current resources
        matching one of ``queries``: the hops of chained and ``_has`` searches, and includes."""
        check_type(rtype)
        coll = await self.collections.current(rtype)
        values: dict[str, Any] = {}
        for query in queries:
            cursor = _hinted(coll.find(query, {field: 1}), rtype, query).limit(limit)
            for doc in await cursor.to_list():
                value = field_value(doc, field)
                if value is not None:
                    values.setdefault(doc["_id"], value)
            if len(values) >= limit:
                break
        return list(values.values())[:limit]

    async def explain(
        self, rtype: str, queries: list[Filter], sort: list[tuple[str, int]]
    ) -> list[dict[str, Any]]:
        """The database's query plan for each query of a search (``_explain=true``)."""
        check_type(rtype)
        coll = await self.collections.current(rtype)
        plans = []
        for query in queries:
            cursor = _hinted(coll.find(query, _PAGE_PROJECTION), rtype, query, sort).sort(sort)
            plan = await cursor.explain()
            plans.append({**plan, "medrecIndex": access_path(rtype, query, sort)})
        return plans

    async def count(
        self, rtype: str, queries: list[Filter], *, session: AsyncClientSession | None = None
    ) -> int:
        check_type(rtype)
        coll = await self.collections.current(rtype)
        if len(queries) == 1:
            return await coll.count_documents(queries[0], session=session)
        # Union of several: count each query's ids once (the branches may overlap).
        ids: set[str] = set()
        for query in queries:
            found = coll.find(query, {"_id": 1}, session=session)
            ids.update(doc["_id"] for doc in await found.to_list())
        return len(ids)

    async def history(self, query: HistoryQuery) -> HistoryPage:
        if query.rtype is not None:
            check_type(query.rtype)
        return await read_history(self.collections, query, supported_types())

    # -- writes ------------------------------------------------------------------------------

    async def create(
        self,
        resource: JsonObject,
        rtype: str,
        *,
        session: AsyncClientSession | None = None,
        rid: str | None = None,
    ) -> Version:
        """A new resource: one insert. ``rid``: an id the caller drew with ``new_id`` (a
        bundle's entries refer to each other by it before they are written)."""
        check_type(rtype)
        rid = rid or new_id()
        prepared = self._prepare(resource, rtype, rid)
        coll = await self.collections.current(rtype)
        doc, version = _stamp(prepared, rtype, rid, 1, utc_now_ms())
        with _storable():
            await coll.insert_one(doc, session=session)
        return self._changed(version)

    async def create_many(
        self, items: list[tuple[JsonObject, str, str]], *, session: AsyncClientSession
    ) -> list[Version]:
        """New resources (resource, type, fresh id), each validated as ``create`` does, in a
        transaction (``session``): a transaction bundle's creates in a few round trips, one
        ``insert_many`` per type and chunk. An invalid resource raises (and the transaction
        is aborted).

        Pipelined: while the database stores one chunk, the next is validated and indexed, so
        the two processes work at once (a single bundle used to keep one of them idle). A
        statement is thus nearly always in flight: on the embedded database a kill of medrec
        then left part of the uncommitted transaction behind until its guard learnt to wait
        for the database to go idle before stopping it (storage/db_guard.py)."""
        now = utc_now_ms()
        versions: list[Version] = []
        storing: asyncio.Task[None] | None = None
        try:
            for start in range(0, len(items), CREATE_CHUNK):
                prepared = []
                for position, (resource, rtype, rid) in enumerate(
                    items[start : start + CREATE_CHUNK]
                ):
                    prepared.append((self._prepare(resource, rtype, rid), rtype, rid))
                    if storing is not None and position % YIELD_EVERY == 0:
                        await asyncio.sleep(0)  # the write in flight gets on with sending
                docs, chunk_versions = _stamped(prepared, now)
                if storing is not None:
                    await storing
                storing = asyncio.ensure_future(self._store(docs, session))
                versions.extend(chunk_versions)
            if storing is not None:
                await storing
        finally:
            # An error while preparing: the write in flight ends before the transaction does.
            if storing is not None and not storing.done():
                with contextlib.suppress(Exception):
                    await storing
        return [self._changed(version) for version in versions]

    async def insert_trusted(
        self, rtype: str, items: list[tuple[JsonObject, str, Document]]
    ) -> list[Version]:
        """New resources of one type the server built itself (its audit trail): indexed and
        versioned as any, not put through the model validation a client's resource needs, each
        stored with the extra top-level fields given (resource, id, fields); one ordered
        ``insert_many``, so a failure keeps those before it."""
        prepared = [
            (self._prepare(resource, rtype, rid, trusted=True), rtype, rid)
            for resource, rid, _ in items
        ]
        docs, versions = _stamped(prepared, utc_now_ms(), [fields for _, _, fields in items])
        await self._store(docs, None)
        return [self._changed(version) for version in versions]

    async def _store(
        self, by_type: dict[str, list[Document]], session: AsyncClientSession | None
    ) -> None:
        for rtype, docs in by_type.items():
            coll = await self.collections.current(rtype)
            with _storable():
                await coll.insert_many(docs, session=session)

    async def update(
        self,
        resource: JsonObject,
        rtype: str,
        rid: str,
        *,
        if_match: int | None = None,
        session: AsyncClientSession | None = None,
        patched: bool = False,
    ) -> WriteResult:
        """Replace (or create, with a client-chosen id). ``if_match``: the version the caller
        based its change on; another current version fails with 412."""
        check_type(rtype)
        _check_same_id(resource, check_id(rid))
        prepared = self._prepare(resource, rtype, rid)
        coll = await self.collections.current(rtype)
        for _ in range(MAX_WRITE_ATTEMPTS):
            current = await coll.find_one({"_id": rid}, session=session)
            if current is None:
                if if_match is not None:
                    raise PreconditionFailed(f"{rtype}/{rid} does not exist (If-Match given)")
                doc, version = _stamp(prepared, rtype, rid, 1, utc_now_ms())
                try:
                    with _storable():
                        await coll.insert_one(doc, session=session)
                except DuplicateKeyError:
                    continue  # created meanwhile by someone else: update it instead
                return WriteResult(self._changed(version), created=True)
            self._check_current(rtype, current)
            _check_if_match(rtype, rid, current["v"], if_match)
            now = utc_now_ms(after=current["ts"])
            doc, version = _stamp(prepared, rtype, rid, current["v"] + 1, now, patched)
            if await self._replace(rtype, current, doc, now, session):
                return WriteResult(self._changed(version), created=bool(current.get("del")))
            if if_match is not None:
                raise PreconditionFailed(f"{rtype}/{rid} was changed by another request")
        raise Conflict(f"{rtype}/{rid} is being changed by many requests at once; try again")

    async def patch(
        self,
        rtype: str,
        rid: str,
        apply: Callable[[JsonObject], JsonObject],
        *,
        if_match: int | None = None,
        session: AsyncClientSession | None = None,
    ) -> Version:
        """Read, apply ``apply`` to the exact JSON (decimals as ``Decimal``), write back with a
        version check; a lost race re-reads and re-applies, unless If-Match pinned the base."""
        for _ in range(MAX_WRITE_ATTEMPTS):
            current = await self.read(rtype, rid, session=session)
            _check_if_match(rtype, rid, current.version, if_match)
            assert current.body is not None
            base = json.loads(current.body, parse_float=Decimal)
            changed = apply(base)
            if not isinstance(changed, dict):
                raise Invalid("The patch did not produce a JSON object")
            if changed.get("resourceType") != rtype or changed.get("id") != rid:
                raise Invalid("A patch may not change the resource's type or id")
            try:
                result = await self.update(
                    changed, rtype, rid, if_match=current.version, session=session, patched=True
                )
            except PreconditionFailed:
                if if_match is not None:
                    raise
                continue
            return result.version
        raise Conflict(f"{rtype}/{rid} is being changed by many requests at once; try again")

    async def delete(
        self,
        rtype: str,
        rid: str,
        *,
        if_match: int | None = None,
        session: AsyncClientSession | None = None,
    ) -> Version | None:
        """Logical delete: a new version marked deleted. None when it already was deleted."""
        check_type(rtype)
        check_id(rid)
        coll = await self.collections.current(rtype)
        for _ in range(MAX_WRITE_ATTEMPTS):
            current = await coll.find_one({"_id": rid}, session=session)
            if current is None:
                raise NotFound(f"{rtype}/{rid} is not known")
            self._check_current(rtype, current)
            if current.get("del"):
                return None
            _check_if_match(rtype, rid, current["v"], if_match)
            now = utc_now_ms(after=current["ts"])
            tombstone = {"_id": rid, "v": current["v"] + 1, "ts": now, "del": True}
            if await self._replace(rtype, current, tombstone, now, session):
                return self._changed(Version(rtype, rid, tombstone["v"], now, True, None))
            if if_match is not None:
                raise PreconditionFailed(f"{rtype}/{rid} was changed by another request")
        raise Conflict(f"{rtype}/{rid} is being changed by many requests at once; try again")

    def validate(self, resource: JsonObject, rtype: str, rid: str | None = None) -> None:
        """What a create (``rid`` None) or an update of ``rid`` checks, storing nothing
        (``$validate``): raises ``Invalid`` or ``Unprocessable`` with the issues."""
        check_type(rtype)
        if rid is not None:
            _check_same_id(resource, check_id(rid))
        self._prepare(resource, rtype, rid or new_id())

    # -- internals ---------------------------------------------------------------------------

    async def _replace(
        self,
        rtype: str,
        current: Document,
        new: Document,
        now: datetime,
        session: AsyncClientSession | None,
    ) -> bool:
        """Archive ``current`` then swap in ``new`` if ``current`` is still current."""
        archived = {k: v for k, v in current.items() if k != "_id"}
        archived["rid"] = current["_id"]
        archived["end"] = now
        history = await self.collections.history(rtype)
        # Archived already by a racing writer or an interrupted attempt: same content.
        with contextlib.suppress(DuplicateKeyError):
            await history.insert_one(archived, session=session)
        coll = await self.collections.current(rtype)
        with _storable():
            result = await coll.replace_one(
                {"_id": current["_id"], "v": current["v"]}, new, session=session
            )
        return result.matched_count == 1

    def _check_current(self, rtype: str, current: Document) -> None:
        """Before changing or deleting ``current``: may it be? (Authorization overrides.)"""

    def _prepare(
        self, resource: JsonObject, rtype: str, rid: str, *, trusted: bool = False
    ) -> _Prepared:
        if not isinstance(resource, dict):
            raise Invalid("A resource must be a JSON object")
        body_type = resource.get("resourceType")
        if body_type is None:
            raise Invalid("The resource has no resourceType")
        if body_type != rtype:
            raise Invalid(
                f"The resource's resourceType ({str(body_type)[:64]!r}) does not match the "
                f"URL's type ({rtype!r})"
            )
        has_decimal = check_shape(resource, self.max_depth)
        exact = _with_identity(resource, rid) if has_decimal else None
        plain = _with_identity(to_plain(resource) if has_decimal else resource, rid)
        if not trusted:
            self.validator.validate(plain)
        index = index_resource(rtype, exact or plain)
        return _Prepared(plain, exact, patient_compartments(plain), index)


@contextlib.contextmanager
def _storable() -> Iterator[None]:
    # A body under the size limit can still exceed MongoDB's 16 MB document limit once stored
    # with its exact-decimal copy.
    try:
        yield
    except DocumentTooLarge:
        raise TooLarge("The resource is too large to store (MongoDB's 16 MB limit)") from None


def _hinted(
    cursor: AsyncCursor[Document],
    rtype: str,
    filter_: dict[str, Any],
    sort: list[tuple[str, int]] | None = None,
) -> AsyncCursor[Document]:
    if access_path(rtype, filter_, sort) == _ID_WALK:
        return cursor.hint("_id_")
    return cursor


_ID_WALK = "_id_ (walked in order)"
_INDEX_NAMES = {"ts": "lastUpdated", "comp": "patientCompartment", "_id": "_id_"}


def access_path(rtype: str, filter_: dict[str, Any], sort: list[tuple[str, int]] | None) -> str:
    """The index a query is answered from: the one serving its leading field (the embedded
    database looks up the first index-served field and filters those candidates; its
    ``explain`` reports a scan for any filter of more than one field, even then), or, when
    none does and the order is by ``_id``, an in-order walk of ``_id_`` (hinted: SecantusDB
    0.7 ignores the filter under any other hint and walks the whole hinted index — 22k
    documents: 80 ms unhinted, 3 s hinted). Empty when the query scans."""
    leading = next(iter(filter_), None)
    if leading in served_fields(rtype):
        return _INDEX_NAMES.get(str(leading), str(leading))
    if leading == "_id" and isinstance(filter_["_id"], dict) and "$in" in filter_["_id"]:
        return "_id_"
    if sort and sort[0][0] == "_id":
        return _ID_WALK
    return ""


def check_type(rtype: str) -> None:
    if rtype not in supported_types():
        raise NotFound(f"Resource type {rtype[:64]!r} is not served here")


def _check_same_id(resource: JsonObject, rid: str) -> None:
    if resource.get("id") != rid:
        raise Invalid(
            f"The resource's id ({str(resource.get('id'))[:64]!r}) must equal the id in the "
            f"URL ({rid!r})"
        )


def _check_if_match(rtype: str, rid: str, current: int, if_match: int | None) -> None:
    if if_match is not None and if_match != current:
        raise PreconditionFailed(
            f"{rtype}/{rid} is at version {current}, not {if_match} (If-Match)"
        )


def _with_identity(resource: JsonObject, rid: str) -> JsonObject:
    """resourceType, id and meta first (meta filled in by ``_stamp``), then the rest as sent."""
    meta = resource.get("meta")
    client_meta = (
        {k: v for k, v in meta.items() if k not in SERVER_META} if isinstance(meta, dict) else {}
    )
    if meta is not None and not isinstance(meta, dict):
        raise Invalid("meta must be a JSON object", status=400)
    # Placeholders with valid syntax, so validation sees a complete meta.
    out: JsonObject = {
        "resourceType": resource["resourceType"],
        "id": rid,
        "meta": {"versionId": "1", "lastUpdated": "1970-01-01T00:00:00.000Z", **client_meta},
    }
    for key, value in resource.items():
        if key not in out:
            out[key] = value
    return out


def _stamped(
    prepared: list[tuple[_Prepared, str, str]], now: datetime, extra: list[Document] | None = None
) -> tuple[dict[str, list[Document]], list[Version]]:
    """Version 1 of each, stamped ``now``: the documents by type, and the versions in order."""
    by_type: dict[str, list[Document]] = {}
    versions: list[Version] = []
    for position, (ready, rtype, rid) in enumerate(prepared):
        doc, version = _stamp(ready, rtype, rid, 1, now)
        if extra is not None:
            doc.update(extra[position])
        by_type.setdefault(rtype, []).append(doc)
        versions.append(version)
    return by_type, versions


def _stamp(
    prepared: _Prepared, rtype: str, rid: str, version: int, now: datetime, patched: bool = False
) -> tuple[Document, Version]:
    stamp = {"versionId": str(version), "lastUpdated": instant(now)}
    prepared.plain["meta"].update(stamp)
    doc: Document = {"_id": rid, "v": version, "ts": now, "res": prepared.plain}
    if prepared.compartments:
        doc["comp"] = prepared.compartments
    # meta.lastUpdated is only known now, after extraction.
    doc["idx"] = {**prepared.index, "_lastUpdated": last_updated_entries(stamp["lastUpdated"])}
    doc.update(sort_values(rtype, prepared.index))
    if patched:
        doc["patch"] = True
    body = orjson.dumps(prepared.plain)
    if prepared.exact is not None:
        prepared.exact["meta"].update(stamp)
        exact = dumps(prepared.exact)
        # The exact copy only when the floats would not give the digits back (72.50, 1e2):
        # 72.5 reads back as 72.5, and most decimals are written that way.
        if exact != body:
            doc["raw"] = Binary(exact)
            body = exact
    return doc, Version(rtype, rid, version, now, False, body, patched)
