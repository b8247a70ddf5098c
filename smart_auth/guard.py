"""The repository as one request may use it: every read, search, history page and write goes
through its access token's permissions. The routes, includes, chained searches, bundles and
operations all reach data through ``services(request).repository``, which is this one when
authorization is on, so nothing takes a way round it.

A resource the token may not see is answered like one that does not exist (404), so that its
existence does not leak; a type the token has no scope for at all is a 403.

A ``Binary`` with a ``securityContext`` is visible only to who may also read that resource
(FHIR's securityContext): a read or vread checks it; searches (and so includes) leave out the
Binaries whose context is of a type the token does not read in full; history of Binaries is
refused to such a token, except one Binary's, which is checked like a read; and only who may
read the context replaces or deletes the Binary.
"""

from __future__ import annotations

import dataclasses
import re
from functools import cached_property
from typing import Any

import orjson
from pymongo.asynchronous.client_session import AsyncClientSession

from fhir_server.errors import Forbidden, Gone, NotFound
from fhir_server.model.resource_types import supported_types
from fhir_server.search.codes import CodeSets
from fhir_server.search.definitions import params_of_type
from fhir_server.search.filters import Filter, with_alternatives
from fhir_server.search.parse import parse_search
from fhir_server.search.plan import plan
from fhir_server.storage.collections import Document
from fhir_server.storage.history import HistoryPage, HistoryQuery
from fhir_server.storage.repository import (
    JsonObject,
    Repository,
    SearchPage,
    WriteResult,
    _Prepared,
)
from fhir_server.storage.versions import Version
from smart_auth.access import EVERYTHING, Access, Alternative, _compartment_types
from smart_auth.scopes import Interaction

_VERBS = {"c": "create", "r": "read", "u": "update", "d": "delete", "s": "search"}
_ID = r"[A-Za-z0-9\-.]{1,64}"
_RELATIVE = re.compile(rf"^([A-Za-z]+)/({_ID})$")  # a securityContext we can look up


class GuardedRepository(Repository):
    def __init__(self, base: Repository, access: Access, codes: CodeSets | None) -> None:
        super().__init__(base.collections, base.validator, base.max_depth, base.listeners)
        self.access = access
        self.codes = codes
        # Set by each write, per type, just before the (synchronous) validation checks it.
        self._writing: dict[str, tuple[Alternative, ...]] = {}

    # -- permissions -------------------------------------------------------------------------

    def _allowed(self, rtype: str, interaction: Interaction) -> tuple[Alternative, ...]:
        found = self.access.alternatives(rtype, interaction)
        if not found:
            raise Forbidden(f"The access token does not allow {_VERBS[interaction]} of {rtype}")
        return found

    async def _filters(self, rtype: str, alternatives: tuple[Alternative, ...]) -> list[Filter]:
        """The alternatives as MongoDB filters (a union)."""
        out: list[Filter] = []
        for alternative in alternatives:
            extra: Filter | None = (
                {"comp": alternative.patient} if alternative.patient is not None else None
            )
            if not alternative.query:
                assert extra is not None
                out.append(extra)
                continue
            search = parse_search(
                rtype,
                list(alternative.query),
                params_of_type,
                strict=True,
                default_count=1,
                max_count=1,
            )
            # Planned by the unguarded repository: a scope's own query is not the user's.
            planned = await plan(search, _Unguarded(self), extra, self.codes)
            out += planned.queries
        return out

    async def _restricted(
        self, rtype: str, interaction: Interaction, queries: list[Filter]
    ) -> list[Filter]:
        alternatives = self._allowed(rtype, interaction)
        if rtype == "Binary" and self._context_filter is not None:
            queries = with_alternatives(queries, [self._context_filter])
        if alternatives == EVERYTHING:
            return queries
        return with_alternatives(queries, await self._filters(rtype, alternatives))

    async def _visible(
        self,
        rtype: str,
        rid: str,
        interaction: Interaction,
        session: AsyncClientSession | None = None,
    ) -> None:
        alternatives = self._allowed(rtype, interaction)
        if alternatives == EVERYTHING:
            return
        filters = with_alternatives([{"_id": rid}], await self._filters(rtype, alternatives))
        coll = await self.collections.current(rtype)
        for filter_ in filters:
            if await coll.find_one(filter_, {"_id": 1}, session=session) is not None:
                return
        raise NotFound(f"{rtype}/{rid} is not known")

    def permitted(self, rtype: str, interaction: str) -> bool:
        return self.access.allows(rtype, interaction)

    # -- Binary.securityContext ----------------------------------------------------------------

    @cached_property
    def _open_types(self) -> frozenset[str]:
        """The types this token reads every resource of: a context of one needs no lookup."""
        types = supported_types()
        return frozenset(t for t in types if self.access.alternatives(t, "r") == EVERYTHING)

    @cached_property
    def _context_filter(self) -> Filter | None:
        """What a Binary search may show: no context, or one of a type read in full (None:
        every Binary). A search cannot look up each context, so a token that reads some of a
        type's resources sees its Binaries by read only."""
        if self._open_types == supported_types():
            return None
        shown: list[Filter] = [{"res.securityContext": {"$exists": False}}]
        if self._open_types:
            types = "|".join(sorted(self._open_types))
            pattern = f"^(?:{types})/{_ID}$"
            shown.append({"res.securityContext.reference": {"$regex": pattern}})
        return {"$or": shown}

    async def _check_context(
        self, version: Version, session: AsyncClientSession | None = None
    ) -> None:
        """A Binary is answered as unknown unless its securityContext may be read too."""
        if version.rtype != "Binary" or version.body is None or self._context_filter is None:
            return
        context = orjson.loads(version.body).get("securityContext")
        if context is None:
            return
        match = _RELATIVE.match(str(context.get("reference", "")))
        try:
            if match is None:  # an identifier or an absolute URL: nothing to check it against
                raise NotFound("unresolvable securityContext")
            if match.group(1) not in self._open_types:
                await self._visible(match.group(1), match.group(2), "r", session)
        except (NotFound, Forbidden):
            raise NotFound(f"Binary/{version.id} is not known") from None

    async def _may_change(self, rtype: str, rid: str, session: AsyncClientSession | None) -> None:
        """A Binary is replaced or deleted only by who may read its securityContext."""
        if rtype != "Binary" or self._context_filter is None:
            return
        try:
            current = await super().read(rtype, rid, session=session)
        except (NotFound, Gone):
            return  # a create, or already deleted: nothing to protect
        await self._check_context(current, session)

    def _touch(self, versions: list[Version]) -> None:
        self.access.touched.extend((v.rtype, v.id) for v in versions)

    # -- reads -------------------------------------------------------------------------------

    async def read(
        self,
        rtype: str,
        rid: str,
        *,
        session: AsyncClientSession | None = None,
        within: str | None = None,
    ) -> Version:
        alternatives = self._allowed(rtype, "r")
        only = alternatives[0] if len(alternatives) == 1 else None
        if only is not None and not only.query and only.patient is not None:
            # The common patient-app case: one compartment, checked in the same lookup.
            version = await super().read(rtype, rid, session=session, within=only.patient)
        else:
            await self._visible(rtype, rid, "r", session)
            version = await super().read(rtype, rid, session=session, within=within)
        await self._check_context(version, session)
        self._touch([version])
        return version

    async def vread(self, rtype: str, rid: str, vid: int) -> Version:
        await self._visible(rtype, rid, "r")
        version = await super().vread(rtype, rid, vid)
        await self._check_context(version)
        self._touch([version])
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
        restricted = await self._restricted(rtype, "s", queries)
        page = await super().search(rtype, restricted, sort, count, after, session=session)
        self._touch(page.versions)
        return page

    async def collect(self, rtype: str, queries: list[Filter], field: str, limit: int) -> list[Any]:
        restricted = await self._restricted(rtype, "s", queries)
        return await super().collect(rtype, restricted, field, limit)

    async def count(
        self, rtype: str, queries: list[Filter], *, session: AsyncClientSession | None = None
    ) -> int:
        restricted = await self._restricted(rtype, "s", queries)
        return await super().count(rtype, restricted, session=session)

    async def explain(
        self, rtype: str, queries: list[Filter], sort: list[tuple[str, int]]
    ) -> list[dict[str, Any]]:
        if not self.access.admin:
            raise Forbidden("_explain is for administrators")
        return await super().explain(rtype, queries, sort)

    async def history(self, query: HistoryQuery) -> HistoryPage:
        types = [query.rtype] if query.rtype is not None else sorted(await self.stored_types())
        interaction: Interaction = "r" if query.rid is not None else "s"
        permitted: set[str] = set()
        patients: set[str | None] = set()
        for rtype in types:
            alternatives = self.access.alternatives(rtype, interaction)
            if not alternatives:
                continue
            if any(alternative.query for alternative in alternatives):
                raise Forbidden(f"History of {rtype} is not available under a granular scope")
            permitted.add(rtype)
            if rtype in _compartment_types():
                patients.update(alternative.patient for alternative in alternatives)
        if query.rtype is not None and not permitted:
            self._allowed(query.rtype, interaction)  # raises: no scope for this type
        if "Binary" in permitted and query.rid is None and self._context_filter is not None:
            if query.rtype == "Binary":
                raise Forbidden("History of Binary needs read access to every securityContext")
            permitted.discard("Binary")
        compartment = None
        if None not in patients and patients:
            if len(patients) > 1:
                raise Forbidden("History across several patients' compartments")
            compartment = next(iter(patients))
        restricted = dataclasses.replace(query, types=frozenset(permitted), compartment=compartment)
        page = await super().history(restricted)
        for version in page.versions:  # one Binary's history: each version's context
            await self._check_context(version)
        self._touch(page.versions)
        return page

    # -- writes ------------------------------------------------------------------------------

    def _may_write(self, rtype: str, interaction: Interaction) -> tuple[Alternative, ...]:
        alternatives = self._allowed(rtype, interaction)
        if any(alternative.query for alternative in alternatives):
            raise Forbidden(f"Granular scopes allow reading {rtype}, not changing it")
        return alternatives

    async def create(
        self,
        resource: JsonObject,
        rtype: str,
        *,
        session: AsyncClientSession | None = None,
        rid: str | None = None,
    ) -> Version:
        self._writing = {rtype: self._may_write(rtype, "c")}
        version = await super().create(resource, rtype, session=session, rid=rid)
        self._touch([version])
        return version

    async def create_many(
        self, items: list[tuple[JsonObject, str, str]], *, session: AsyncClientSession
    ) -> list[Version]:
        self._writing = {rtype: self._may_write(rtype, "c") for _, rtype, _ in items}
        versions = await super().create_many(items, session=session)
        self._touch(versions)
        return versions

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
        self._writing = {rtype: self._may_write(rtype, "u")}
        await self._may_change(rtype, rid, session)
        result = await super().update(
            resource, rtype, rid, if_match=if_match, session=session, patched=patched
        )
        self._touch([result.version])
        return result

    async def delete(
        self,
        rtype: str,
        rid: str,
        *,
        if_match: int | None = None,
        session: AsyncClientSession | None = None,
    ) -> Version | None:
        self._writing = {rtype: self._may_write(rtype, "d")}
        await self._may_change(rtype, rid, session)
        version = await super().delete(rtype, rid, if_match=if_match, session=session)
        self.access.touched.append((rtype, rid))
        return version

    async def insert_trusted(
        self, rtype: str, items: list[tuple[JsonObject, str, Document]]
    ) -> list[Version]:
        raise Forbidden("Only the server itself writes unvalidated resources")

    def validate(self, resource: JsonObject, rtype: str, rid: str | None = None) -> None:
        self._writing = {}  # $validate stores nothing
        super().validate(resource, rtype, rid)

    def _prepare(
        self, resource: JsonObject, rtype: str, rid: str, *, trusted: bool = False
    ) -> _Prepared:
        prepared = super()._prepare(resource, rtype, rid, trusted=trusted)
        self._check_compartment(rtype, prepared.compartments)
        return prepared

    def _check_current(self, rtype: str, current: Document) -> None:
        self._check_compartment(rtype, current.get("comp") or [], existing=True)

    def _check_compartment(
        self, rtype: str, compartments: list[str], *, existing: bool = False
    ) -> None:
        alternatives = self._writing.get(rtype, EVERYTHING)
        if alternatives == EVERYTHING or rtype not in _compartment_types():
            return
        patients = {alternative.patient for alternative in alternatives}
        if None in patients or patients & set(compartments):
            return
        if existing:
            raise NotFound(f"{rtype} is not known")
        raise Forbidden(f"The access token allows writing {rtype} only in its patient's record")


class _Unguarded(Repository):
    """The guarded repository's data without its checks (planning a scope's own query)."""

    def __init__(self, guarded: GuardedRepository) -> None:
        super().__init__(guarded.collections, guarded.validator, guarded.max_depth)
