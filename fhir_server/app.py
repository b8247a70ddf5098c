"""create_app: the one place where routers, middleware and the lifespan are wired."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from fhir_server import __version__
from fhir_server.api import bundles, capabilities, rest, search, system_search
from fhir_server.api.context import FHIR_PATH, Services
from fhir_server.api.edge import EdgeMiddleware
from fhir_server.api.errors import install_error_handlers
from fhir_server.api.operations import everything, export, labels, validate
from fhir_server.bulk.export import start_worker
from fhir_server.config import Settings
from fhir_server.model.resource_types import supported_types
from fhir_server.storage.collections import Collections
from fhir_server.storage.export_jobs import ExportJobs
from fhir_server.storage.index_format import INDEX_FORMAT, has_resources, stale_format
from fhir_server.storage.mongo import connect
from fhir_server.wiring import Wired, wire
from ingestion.api import MULTIPART_SLACK_BYTES, UPLOAD_PATH
from ingestion.api import router as ingest_router
from ingestion.hl7v2.route import router as hl7v2_router
from ingestion.hl7v2.service import start_mllp
from ingestion.review import close_review_runner
from ingestion.review import router as review_router
from ingestion.scans.stored import StoredScans
from ingestion.service import start_worker as start_ingest_worker
from smart_auth.accounts.admin_api import admin_router
from smart_auth.audit.journal import Journal
from smart_auth.audit.middleware import AuditMiddleware
from smart_auth.audit.trail import AuditTrail
from smart_auth.enforce import authorize
from smart_auth.server.routes import router as smart_auth_router
from smart_auth.server.routes import wellknown_router
from smart_auth.services import start_auth
from terminology import ucum
from terminology.api import router as terminology_router

log = logging.getLogger(__name__)
FORMAT_CHECK_TIMEOUT_S = 5.0
AUTH_RETRY_S = 2.0


async def _load_terminology(wired: Wired) -> None:
    """The site's own CodeSystems, ValueSets and ConceptMaps (bundled content serves until
    then)."""
    try:
        await wired.load_site_terminology()
    except PyMongoError as error:
        log.warning("could not load stored terminology: %s", type(error).__name__)


async def _check_index_format(collections: Collections) -> None:
    try:
        stale = await stale_format(collections.db, await has_resources(collections))
    except PyMongoError as error:
        log.warning("could not check the search index format: %s", type(error).__name__)
        return
    if stale is not None:
        log.warning(
            "search index values are in format %d, this medrec writes format %d: searches "
            "may miss resources until `medrec reindex` has run",
            stale,
            INDEX_FORMAT,
        )


async def _start_auth(
    app: FastAPI, db: AsyncDatabase[Any], settings: Settings, stop: asyncio.Event
) -> None:
    """Authorization services, as soon as the database answers (retried while it does not,
    until ``stop``). Never cancelled inside a database call: cancelling pymongo mid-call can
    leave its client unable to close."""
    while not stop.is_set():
        try:
            app.state.auth = await start_auth(db, settings)
            return
        except PyMongoError as error:
            log.warning("authorization not ready: %s; retrying", type(error).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), AUTH_RETRY_S)


def create_app(
    settings: Settings,
    *,
    create_indexes: bool = True,
    export_worker: bool = False,
    ingest_worker: bool = False,
) -> FastAPI:
    """The ASGI app. ``settings.mongodb_uri`` must be set (the CLI starts the embedded database
    first when it is not). ``export_worker``: run a $export worker in the lifespan (`medrec
    serve` does, as MEDREC_EXPORT_WORKER says; an app built for tests or tools does not)."""
    if not settings.mongodb_uri:
        raise ValueError("create_app needs settings.mongodb_uri")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        assert settings.mongodb_uri is not None
        client = connect(settings.mongodb_uri, timeout_ms=settings.mongodb_timeout_ms)
        wired = wire(client[settings.database], settings.max_json_depth)
        collections = wired.repository.collections
        if create_indexes:
            await collections.ensure_indexes(sorted(supported_types()))
        # The UCUM parser takes about 2 s of CPU to build: before serving, not in the background
        # (where it slowed the first seconds of requests and skewed every benchmark's start).
        await asyncio.to_thread(ucum.warm_up)
        # Before serving, so that no write can precede it; bounded: the server must start
        # (and answer 503) while the database is down.
        try:
            await asyncio.wait_for(_check_index_format(collections), FORMAT_CHECK_TIMEOUT_S)
        except TimeoutError:
            log.warning("could not check the search index format: the database did not answer")
        # Scans are stored encrypted; a Binary read decrypts (loading the key on first use).
        scans = StoredScans(client[settings.database], settings.scan_key, settings.data_dir)
        app.state.services = Services(settings, wired.repository, scans)
        app.state.terminology = wired.terminology
        # The signing key lives in the database: until it is read, FHIR requests get 503.
        app.state.auth = None
        stop_starting = asyncio.Event()
        starting = asyncio.create_task(
            _start_auth(app, client[settings.database], settings, stop_starting)
        )
        # Each access is journaled before it is answered, and stored in the background; the
        # journals of processes that ended are stored first.
        app.state.audit = AuditTrail(wired.repository, Journal(settings.audit_journal_path))
        app.state.audit.start()
        if settings.auth == "off":
            log.warning(
                "AUTHORIZATION IS OFF (MEDREC_AUTH=off): anyone who can reach this server can "
                "read and change every record. For local development only."
            )
        # In the background: the server must start (and answer 503) while the database is down.
        loading = asyncio.create_task(_load_terminology(wired))
        app.state.mongo = client
        # Bulk Data $export: job records for the routes; the worker only when asked for.
        app.state.export_jobs = ExportJobs(client[settings.database])
        app.state.export_worker = None
        if export_worker:
            app.state.export_worker = start_worker(settings, app.state.export_jobs, collections)
        # Scan ingestion jobs (ingestion/jobs.py): like $export, a worker only when asked for.
        app.state.ingest_worker = None
        if ingest_worker:
            app.state.ingest_worker = await start_ingest_worker(
                settings, wired.repository, wired.terminology
            )
        # HL7 v2 over MLLP (ingestion/hl7v2), only when MEDREC_HL7_MLLP_ENABLED is set.
        mllp = None
        if settings.hl7_mllp_enabled:
            mllp = await start_mllp(settings, wired.repository, wired.terminology, app.state.audit)
        try:
            yield
        finally:
            if app.state.export_worker is not None:
                await app.state.export_worker.stop()  # bounded: never holds up the shutdown
            if app.state.ingest_worker is not None:
                await app.state.ingest_worker.stop()
            close_review_runner(app.state)
            if mllp is not None:
                await mllp.close()
            await app.state.audit.close()  # after the last request's event: stores them all
            loading.cancel()
            stop_starting.set()
            await starting  # at most one database call's timeout
            await client.close()

    app = FastAPI(
        title="medrec FHIR R4 server",
        version=__version__,
        description="FHIR R4 (4.0.1) REST API. The FHIR base URL is `/fhir`.",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    install_error_handlers(app)
    # Inside the edge: requests refused for their size never reach a route (nor the audit).
    app.add_middleware(AuditMiddleware)
    app.add_middleware(
        EdgeMiddleware,
        max_query_bytes=settings.max_query_bytes,
        max_body_bytes=settings.max_body_bytes,
        body_limits={UPLOAD_PATH: settings.ingest_max_bytes + MULTIPART_SLACK_BYTES},
    )
    app.include_router(capabilities.router)  # /metadata: open to all, as FHIR requires
    # SMART discovery (/fhir/.well-known/*) before the FHIR routes, which would take its URL.
    app.include_router(wellknown_router)
    app.include_router(smart_auth_router)  # /auth/*: the authorization server
    app.include_router(admin_router)  # /admin/*: users and clients, for administrators
    # Every other FHIR route: the access token decides what it may see and do.
    guarded = [Depends(authorize)]
    for router in (
        rest.router,
        search.router,
        system_search.router,
        bundles.router,
        labels.router,
        everything.router,
        validate.router,
        export.router,
        # Last: the routes above never take an operation's URL (see api/context.SegmentConvertor).
        terminology_router,
    ):
        app.include_router(router, dependencies=guarded)
    # POST /hl7v2: its own authorization place (ingestion/hl7v2/route.authorized).
    app.include_router(hl7v2_router)
    app.include_router(ingest_router, dependencies=guarded)  # /ingest/*: staff and up
    app.include_router(review_router, dependencies=guarded)  # /ingest/review: the queue

    @app.get("/healthz", tags=["operations"], summary="liveness and database reachability")
    async def healthz(request: Request) -> Response:
        await request.app.state.mongo.admin.command("ping")
        return JSONResponse({"status": "ok"})

    @app.get("/", include_in_schema=False)
    async def root() -> Response:
        return RedirectResponse(f"{FHIR_PATH}/metadata")

    return app
