"""Scan ingestion as the app and the CLI run it: the job queue, the committer (repository and
scan vault) and a runner over them, from settings."""

from __future__ import annotations

import asyncio

from fhir_server.config import Settings
from fhir_server.search.codes import CodeSets
from fhir_server.storage.repository import Repository
from ingestion.jobs import IngestJobs, JobRunner, JobWorker
from ingestion.scans.calibrate import load_references
from ingestion.scans.commit import Committer
from ingestion.scans.pool import PagePool
from ingestion.scans.vault import ScanVault, load_key


async def open_runner(
    settings: Settings, repository: Repository, codes: CodeSets | None
) -> JobRunner:
    db = repository.collections.db
    key = await asyncio.to_thread(load_key, settings.scan_key, settings.data_dir)
    committer = Committer(repository, codes, ScanVault(db, key))
    references = await load_references(db)  # `medrec calibrate` sets them; read at start
    pages = PagePool(  # its processes start with the first file
        settings.ingest_processes, references, page_timeout_s=settings.ingest_page_timeout_s
    )
    return JobRunner(IngestJobs(db), committer, pages)


async def start_worker(
    settings: Settings, repository: Repository, codes: CodeSets | None
) -> JobWorker:
    """For the app's lifespan (``MEDREC_INGEST_WORKER``)."""
    worker = JobWorker(await open_runner(settings, repository, codes), settings.ingest_poll_s)
    worker.start()
    return worker
