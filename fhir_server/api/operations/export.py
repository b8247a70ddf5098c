"""Bulk Data ``$export`` (HL7 Bulk Data Access IG v2, the asynchronous request pattern).

Kick-off (``GET /$export``, ``/Patient/$export``, ``/Group/{id}/$export``) records a durable job
and answers 202 with ``Content-Location`` naming its status URL; the worker (bulk/export.py)
writes the files; ``$export-status`` answers 202 while it runs and the manifest once complete;
``$export-file`` streams one NDJSON part from its file; ``DELETE`` on the status URL cancels the
job and removes its files. The worker runs in ``medrec serve`` processes (MEDREC_EXPORT_WORKER),
any of which may run any job: the routes only read and write the job records.

Who may export: ``_require_export_access``, called first by every route here.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from fhir_server.api.context import FHIR_PATH, fhir_base, services
from fhir_server.api.rest import ResourceId
from fhir_server.api.system_search import requested_types
from fhir_server.bulk.export import (
    GROUP,
    PATIENTS,
    SYSTEM,
    ExportRequest,
    ExportWorker,
    job_dir,
    kick_off,
    remove_files,
)
from fhir_server.errors import FhirError, Invalid, NotFound
from fhir_server.model.compartments import compartment_types
from fhir_server.model.datetimes import datetime_range
from fhir_server.model.ids import check_id
from fhir_server.model.references import parse_reference
from fhir_server.storage.export_jobs import COMPLETE, FAILED, ExportJobs
from smart_auth.enforce import access_of, require_system_export
from terminology.operations import OperationDefinition, Param

router = APIRouter(prefix=FHIR_PATH, tags=["FHIR bulk data"])

_INPUTS = (
    Param("_outputFormat", "string", doc="application/fhir+ndjson (the default and only one)"),
    Param("_since", "instant", doc="Only resources updated at or after this instant"),
    Param("_type", "string", max="*", doc="Only resources of these types (comma lists)"),
)
SYSTEM_DEFINITION = OperationDefinition(
    resource="Resource",
    code="export",
    description="Every current resource, as NDJSON files (asynchronous).",
    inputs=_INPUTS,
    outputs=(),
    url="http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export",
)
PATIENT_DEFINITION = OperationDefinition(
    resource="Patient",
    code="export",
    description="Every current resource in any patient compartment, as NDJSON (asynchronous).",
    inputs=_INPUTS,
    outputs=(),
    instance_level=False,
    url="http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export",
)
GROUP_DEFINITION = OperationDefinition(
    resource="Group",
    code="export",
    description="Every current resource in the compartments of a Group's member patients.",
    inputs=_INPUTS,
    outputs=(),
    type_level=False,
    url="http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export",
)
NDJSON = "application/fhir+ndjson"
_FORMATS = frozenset({NDJSON, "application/ndjson", "ndjson"})
_KNOWN = frozenset({"_outputFormat", "_since", "_type"})
# Parameters of the IG this server does not implement: refused rather than silently ignored
# (the client would otherwise get more data than it asked for).
_UNSUPPORTED = frozenset({"_elements", "_typeFilter", "patient", "includeAssociatedData"})
RETRY_AFTER_S = 1


async def _require_export_access(request: Request) -> None:
    """Who may export, check and download: only admins and SMART backend-services clients with
    system scopes, per the Bulk Data IG (403 for everyone else)."""
    await require_system_export(request)


async def _requester(request: Request) -> str | None:
    """The client a job belongs to (None: authorization is off)."""
    grant = (await access_of(request)).grant
    return grant.client_id if grant is not None else None


def _jobs(request: Request) -> ExportJobs:
    jobs: ExportJobs = request.app.state.export_jobs
    return jobs


@router.get("/$export", summary="export: every resource (Bulk Data, asynchronous)")
async def export_system(request: Request) -> Response:
    await _require_export_access(request)
    return await _kick_off(request, None, SYSTEM)


@router.get("/Patient/$export", summary="export: every patient compartment")
async def export_patients(request: Request) -> Response:
    await _require_export_access(request)
    return await _kick_off(request, compartment_types(), PATIENTS)


@router.get("/Group/{rid:segment}/$export", summary="export: a Group's members' compartments")
async def export_group(request: Request, rid: ResourceId) -> Response:
    await _require_export_access(request)
    group = await services(request).repository.read("Group", check_id(rid))
    assert group.body is not None
    members = orjson.loads(group.body).get("member", [])
    patients = sorted({target[1] for target in map(_patient_of, members) if target})
    return await _kick_off(request, compartment_types(), GROUP, patients)


def _patient_of(member: object) -> tuple[str, str] | None:
    entity = member.get("entity") if isinstance(member, dict) else None
    reference = entity.get("reference") if isinstance(entity, dict) else None
    target = parse_reference(reference) if isinstance(reference, str) else None
    return target if target is not None and target[0] == "Patient" else None


async def _kick_off(
    request: Request, within: list[str] | None, scope: str, patients: list[str] | None = None
) -> Response:
    if "respond-async" not in _prefer_tokens(request):
        raise Invalid("$export is asynchronous: send 'Prefer: respond-async'")
    params = list(request.query_params.multi_items())
    for name, _ in params:
        if name in _UNSUPPORTED:
            raise Invalid(f"{name}: not supported by this server's $export")
    formats = [value for name, value in params if name == "_outputFormat"]
    if any(value not in _FORMATS for value in formats):
        raise Invalid("_outputFormat: only application/fhir+ndjson is supported")
    since_values = [value for name, value in params if name == "_since"]
    if len(since_values) > 1:
        raise Invalid("_since: give it once")
    since = datetime_range(since_values[0], "_since")[0] if since_values else None
    types = requested_types([value for name, value in params if name == "_type"])
    if within is not None:
        types = [rtype for rtype in within if rtype in types]
    export = ExportRequest(
        str(request.url), types, since, scope, patients or [], await _requester(request)
    )
    job_id = await kick_off(_jobs(request), export)
    worker: ExportWorker | None = request.app.state.export_worker
    if worker is not None:
        worker.wake()  # this process's worker starts now; the others at their next poll
    location = f"{fhir_base(request)}/$export-status/{job_id}"
    return Response(status_code=202, headers={"Content-Location": location})


def _prefer_tokens(request: Request) -> set[str]:
    prefer = request.headers.get("prefer", "")
    return {token.strip().lower() for token in prefer.split(",")}


@router.get("/$export-status/{job_id}", summary="export: job status and manifest")
async def export_status(request: Request, job_id: str) -> Response:
    await _require_export_access(request)
    job = await _job(request, job_id)
    if job["state"] == FAILED:
        raise FhirError(
            f"the export failed: {job.get('error', 'unknown error')}", [], 500, "exception"
        )
    if job["state"] != COMPLETE:
        written = sum(part["count"] for part in job["parts"])
        progress = f"{job['position']} of {len(job['types'])} types, {written} resources"
        headers = {"X-Progress": progress, "Retry-After": str(RETRY_AFTER_S)}
        return Response(status_code=202, headers=headers)
    base = fhir_base(request)
    manifest = {
        "transactionTime": job["transactionTime"],
        "request": job["request"],
        # The file downloads are FHIR routes: they need a token whenever authorization is on.
        "requiresAccessToken": services(request).settings.auth != "off",
        "output": [
            {
                "type": part["type"],
                "url": f"{base}/$export-file/{job_id}/{part['name']}",
                "count": part["count"],
            }
            for part in job["parts"]
        ],
        "error": [],
    }
    return Response(orjson.dumps(manifest), media_type="application/json")


@router.delete("/$export-status/{job_id}", summary="export: cancel a job, delete its files")
async def export_cancel(request: Request, job_id: str) -> Response:
    await _require_export_access(request)
    await _job(request, job_id)
    if not await _jobs(request).delete(job_id):
        raise NotFound(f"export {job_id[:64]!r} is not known")
    # A worker still writing it sees the job gone at its next checkpoint and removes the files
    # it wrote since.
    remove_files(services(request).settings.export_path, job_id)
    return Response(status_code=202)


@router.get("/$export-file/{job_id}/{name}", summary="export: one NDJSON file")
async def export_file(request: Request, job_id: str, name: str) -> Response:
    await _require_export_access(request)
    job = await _job(request, job_id)
    # Only names the job recorded: a path from the URL never reaches the file system.
    part = next((p for p in job["parts"] if p["name"] == name), None)
    if job["state"] != COMPLETE or part is None:
        raise NotFound(f"export {job_id[:64]!r} has no file {name[:64]!r}")
    path = job_dir(services(request).settings.export_path, job_id) / part["name"]
    return FileResponse(path, media_type=NDJSON)


async def _job(request: Request, job_id: str) -> dict[str, Any]:
    job = await _jobs(request).get(job_id)
    requester = await _requester(request)
    mine = requester is None or job is None or job.get("requester") in (None, requester)
    if job is None or not (mine or (await access_of(request)).admin):
        raise NotFound(f"export {job_id[:64]!r} is not known")  # another client's: not said
    return job
