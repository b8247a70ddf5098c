"""create_app: the one place where routers, middleware and the lifespan are wired."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from pymongo.errors import PyMongoError
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from fhir_server import __version__
from fhir_server.api import bundles, capabilities, rest, search, system_search
from fhir_server.api.context import FHIR_PATH, Services
from fhir_server.api.edge import EdgeMiddleware
from fhir_server.api.errors import install_error_handlers
from fhir_server.api.operations import everything, labels, validate
from fhir_server.config import Settings
from fhir_server.model.resource_types import supported_types
from fhir_server.storage.collections import Collections
from fhir_server.storage.index_format import INDEX_FORMAT, stale_format
from fhir_server.storage.mongo import connect
from fhir_server.wiring import Wired, wire
from terminology import ucum
from terminology.api import router as terminology_router

log = logging.getLogger(__name__)
FORMAT_CHECK_TIMEOUT_S = 5.0


async def _load_terminology(wired: Wired) -> None:
    """The site's own CodeSystems, ValueSets and ConceptMaps (bundled content serves until
    then)."""
    try:
        await wired.load_site_terminology()
    except PyMongoError as error:
        log.warning("could not load stored terminology: %s", type(error).__name__)


async def _check_index_format(collections: Collections) -> None:
    try:
        existing = await collections.existing_types(supported_types())
        stale = await stale_format(collections.db, bool(existing))
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


def create_app(settings: Settings, *, create_indexes: bool = True) -> FastAPI:
    """The ASGI app. ``settings.mongodb_uri`` must be set (the CLI starts the embedded database
    first when it is not)."""
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
        app.state.services = Services(settings, wired.repository)
        app.state.terminology = wired.terminology
        # In the background: the server must start (and answer 503) while the database is down.
        loading = asyncio.create_task(_load_terminology(wired))
        app.state.mongo = client
        try:
            yield
        finally:
            loading.cancel()
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
    app.add_middleware(
        EdgeMiddleware,
        max_query_bytes=settings.max_query_bytes,
        max_body_bytes=settings.max_body_bytes,
    )
    app.include_router(capabilities.router)
    app.include_router(rest.router)
    app.include_router(search.router)
    app.include_router(system_search.router)
    app.include_router(bundles.router)
    app.include_router(labels.router)
    app.include_router(everything.router)
    app.include_router(validate.router)
    # Last: the routes above never take an operation's URL (see api/context.SegmentConvertor).
    app.include_router(terminology_router)

    @app.get("/healthz", tags=["operations"], summary="liveness and database reachability")
    async def healthz(request: Request) -> Response:
        await request.app.state.mongo.admin.command("ping")
        return JSONResponse({"status": "ok"})

    @app.get("/", include_in_schema=False)
    async def root() -> Response:
        return RedirectResponse(f"{FHIR_PATH}/metadata")

    return app
