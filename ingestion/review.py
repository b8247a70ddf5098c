"""The review queue over HTTP: ``GET /ingest/review`` (open review Tasks, a searchset Bundle,
filtered by patient and record category), ``GET /ingest/review/{id}``, ``POST
/ingest/review/{id}/accept`` (optionally with corrected values) and ``POST
/ingest/review/{id}/reject``. For administrators, staff and practitioners; the decisions
themselves are ``ingestion.scans.verify``'s."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from fhir_server.api.context import code_sets, fhir_base, services
from fhir_server.search.searchset import search_type
from ingestion.api import PREFIX, staff_only
from ingestion.jobs import JobRunner
from ingestion.labels.colours import RECORD_CATEGORY
from ingestion.scans.resources import TASK_CODE
from ingestion.scans.verify import Correction, Review, Scans, verifier
from ingestion.service import open_runner
from smart_auth.enforce import access_of

FHIR_JSON = "application/fhir+json"
Text = Annotated[str | None, Field(min_length=1, max_length=200)]

router = APIRouter(
    prefix=f"{PREFIX}/review", tags=["ingestion"], dependencies=[Depends(staff_only)]
)


class Acceptance(BaseModel):
    """Each field left out is what was read from the page. ``value`` and ``range`` as printed
    (``3.7``, ``<5``; ``3.5 - 5.1``, ``< 200``), ``unit`` UCUM or as printed, ``code`` LOINC.
    ``patient``: for a document, the Patient it belongs to; ``category``: its record category,
    when it has none. ``override``: keep a value that fails the checks (recorded in the
    Provenance)."""

    model_config = ConfigDict(extra="forbid")
    code: Text = None
    value: Text = None
    unit: Text = None
    range: Text = None
    patient: Text = None
    category: Annotated[str | None, Field(min_length=1, max_length=64)] = None
    override: bool = False
    note: Annotated[str | None, Field(max_length=2000)] = None


class Rejection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


def _review(request: Request) -> Review:
    @asynccontextmanager
    async def scans() -> AsyncIterator[Scans]:
        """The app's ingestion worker's runner; without one, the app's review runner, made at
        the first re-read and kept (its page pool's processes take seconds to start)."""
        worker = getattr(request.app.state, "ingest_worker", None)
        yield worker.runner if worker is not None else await review_runner(request)

    return Review(services(request).repository, code_sets(request), scans)


async def review_runner(request: Request) -> JobRunner:
    """Closed by the app at shutdown (``close_review_runner``)."""
    state = request.app.state
    if getattr(state, "review_runner_lock", None) is None:
        state.review_runner_lock = asyncio.Lock()
    async with state.review_runner_lock:
        if getattr(state, "review_runner", None) is None:
            found = services(request)
            state.review_runner = await open_runner(
                found.settings, found.repository, code_sets(request)
            )
    runner: JobRunner = state.review_runner
    return runner


def close_review_runner(state: Any) -> None:
    runner = getattr(state, "review_runner", None)
    if runner is not None:
        runner.close()


def _fhir(resource: object) -> Response:
    return Response(orjson.dumps(resource), media_type=FHIR_JSON)


@router.get("", summary="Open review Tasks (a searchset Bundle; its next link pages on)")
async def review_queue(
    request: Request,
    patient: Annotated[str | None, Query(max_length=200)] = None,
    category: Annotated[str | None, Query(max_length=64, description="a record category")] = None,
    count: Annotated[int | None, Query(alias="_count", ge=0)] = None,
    cursor: Annotated[str | None, Query(alias="_cursor", max_length=2000)] = None,
) -> Response:
    params = [("status", "requested"), ("code", f"{TASK_CODE}|approve"), ("_sort", "authored-on")]
    if patient is not None:
        params.append(("patient", patient))
    if category is not None:
        params.append(("focus:DocumentReference.category", f"{RECORD_CATEGORY}|{category}"))
    params += [(name, str(value)) for name, value in (("_count", count), ("_cursor", cursor))
               if value is not None]  # fmt: skip
    found = services(request)
    bundle = await search_type(
        found.repository, code_sets(request), found.settings, fhir_base(request), "Task", params,
        strict=True,
    )  # fmt: skip
    return Response(bundle, media_type=FHIR_JSON)


@router.get("/{task_id}", summary="One review Task")
async def review_task(task_id: str, request: Request) -> Response:
    _, task = await _review(request).task(task_id[:64])
    return _fhir(task)


@router.post(
    "/{task_id}/accept",
    summary="Accept a review Task, with corrections: the resources are written, the Task completed",
    responses={409: {"description": "The Task is no longer open"},
               422: {"description": "The value fails the checks, or something is missing"}},
)  # fmt: skip
async def accept(
    task_id: str, request: Request, body: Annotated[Acceptance | None, Body()] = None
) -> Response:
    correction = Correction(**(body or Acceptance()).model_dump())
    who = verifier((await access_of(request)).grant)
    return _fhir(await _review(request).accept(task_id[:64], correction, who))


@router.post(
    "/{task_id}/reject",
    summary="Reject a review Task with a reason: nothing is written",
    responses={409: {"description": "The Task is no longer open"}},
)
async def reject(task_id: str, request: Request, body: Rejection) -> Response:
    who = verifier((await access_of(request)).grant)
    return _fhir(await _review(request).reject(task_id[:64], body.reason, who))
