"""``medrec calibrate SCAN``: the colour references from a scanned calibration card.
``medrec ingest PATH...``: scan files through the same durable jobs as uploads, run here and
now (a file ingested before is recognised by its SHA-256 and not ingested again).
``medrec ingest --watch DIR``: a consumption folder, the same way."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fhir_server.cli_support import DataDir
from fhir_server.config import Settings
from fhir_server.storage.embedded import database_uri
from fhir_server.storage.mongo import connect
from fhir_server.wiring import wire
from ingestion.intake import RefusedFile, copy_file
from ingestion.jobs import COMPLETE, FAILED, RUNNING, Job, JobRunner
from ingestion.scans.calibrate import hue_shift, measure_card, save_references
from ingestion.scans.colour import DEFAULT_REFERENCES
from ingestion.scans.errors import ScanError
from ingestion.service import open_runner

SettingsOf = Callable[..., Settings]


WATCH_SETTLE_S = 2.0  # a file unchanged this long is complete (a scanner may still write it)


def register(app: typer.Typer, settings_of: SettingsOf, console: Console) -> None:
    @app.command()
    def calibrate(
        scan: Annotated[Path, typer.Argument(help="A colour scan of the calibration card")],
        data_dir: DataDir = None,
    ) -> None:
        """Set the colour references from a scan of `medrec labels --calibration-card`."""
        settings = settings_of(data_dir)
        try:
            measured = measure_card(scan.read_bytes())
        except (OSError, ScanError) as error:
            console.print(f"[red]error:[/red] {error}")
            raise typer.Exit(1) from None
        table = Table("colour", "L", "a", "b", "hue shift from the default")
        for name, lab in measured.items():
            default = DEFAULT_REFERENCES.get(name)
            shift = f"{hue_shift(default, lab):+.1f}°" if default else "(new colour)"
            table.add_row(name, *(f"{v:.1f}" for v in lab), shift)
        console.print(table)

        async def save(uri: str) -> None:
            client = connect(uri, timeout_ms=settings.mongodb_timeout_ms)
            try:
                await save_references(client[settings.database], measured)
            finally:
                await client.close()

        with database_uri(settings.mongodb_uri, settings.data_dir) as uri:
            asyncio.run(save(uri))
        console.print(
            f"saved {len(measured)} reference colours; running ingestion workers use them "
            "once restarted"
        )

    @app.command()
    def ingest(
        paths: Annotated[
            list[Path] | None, typer.Argument(help="Scan files (PNG, JPEG, TIFF, PDF)")
        ] = None,
        watch: Annotated[
            Path | None,
            typer.Option(
                "--watch",
                help="Consumption folder: ingest each file put there, then move it to done/ "
                "or failed/ (with a .reason.txt). Runs until interrupted.",
            ),
        ] = None,
        interval: Annotated[float, typer.Option(help="Seconds between looks at --watch")] = 2.0,
        data_dir: Annotated[
            Path | None,
            typer.Option("--data-dir", help="Embedded database directory [env: MEDREC_DATA_DIR]"),
        ] = None,
    ) -> None:
        """Ingest scanned records: read, check and commit them to FHIR (review Tasks for
        anything uncertain)."""
        settings = settings_of(data_dir)
        paths = paths or []
        if watch is None and not paths:
            console.print("[red]error:[/red] give scan files, or --watch DIR")
            raise typer.Exit(2)
        if watch is not None and not watch.is_dir():
            console.print(f"[red]error:[/red] {watch} is not a directory")
            raise typer.Exit(2)
        files = [p for p in paths if p.is_file()]
        for missing in set(paths) - set(files):
            console.print(f"[red]not a file:[/red] {missing}")

        async def run(uri: str, bar: Progress) -> int:
            async with _runner(settings, uri) as runner:
                failures = await ingest_files(runner, settings, files, bar, console)
                while watch is not None:
                    await watch_once(runner, settings, watch, bar, console)
                    await asyncio.sleep(interval)
                return failures

        with (
            database_uri(settings.mongodb_uri, settings.data_dir) as uri,
            Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as bar,
        ):
            try:
                failures = asyncio.run(run(uri, bar))
            except KeyboardInterrupt:
                failures = 0
        if failures or len(files) != len(paths):
            raise typer.Exit(1)


@asynccontextmanager
async def _runner(settings: Settings, uri: str) -> AsyncIterator[JobRunner]:
    client = connect(uri, timeout_ms=settings.mongodb_timeout_ms)
    try:
        wired = wire(client[settings.database], settings.max_json_depth)
        await wired.load_site_terminology()
        runner = await open_runner(settings, wired.repository, wired.terminology)
        await runner.ensure()
        try:
            yield runner
        finally:
            runner.close()
    finally:
        await client.close()


async def ingest_files(
    runner: JobRunner, settings: Settings, files: list[Path], bar: Progress, console: Console
) -> int:
    """Each file through its job, here and now; the number that failed."""
    if not files:
        return 0
    overall = bar.add_task("files", total=len(files))
    failures = 0
    for path in files:
        _, reason = await ingest_file(runner, settings, path, bar, console)
        failures += reason is not None
        bar.advance(overall)
    return failures


async def watch_once(
    runner: JobRunner, settings: Settings, folder: Path, bar: Progress, console: Console
) -> int:
    """Ingest the files that have settled in ``folder`` and move each to ``done/`` or
    ``failed/`` (beside a ``<name>.reason.txt``); the number handled."""
    ready = await asyncio.to_thread(_settled, folder)
    for path in ready:
        _, reason = await ingest_file(runner, settings, path, bar, console)
        await asyncio.to_thread(_file_away, path, folder, reason)
    return len(ready)


def _settled(folder: Path) -> list[Path]:
    now = time.time()
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file()
        and not path.name.startswith(".")
        and now - path.stat().st_mtime >= WATCH_SETTLE_S
    )


def _file_away(path: Path, folder: Path, reason: str | None) -> None:
    target = _free_name(folder / ("done" if reason is None else "failed"), path.name)
    target.parent.mkdir(exist_ok=True)
    path.replace(target)
    if reason is not None:
        target.with_name(target.name + ".reason.txt").write_text(reason + "\n")


def _free_name(folder: Path, name: str) -> Path:
    target = folder / name
    number = 1
    while target.exists():
        target = folder / f"{Path(name).stem}-{number}{Path(name).suffix}"
        number += 1
    return target


async def ingest_file(
    runner: JobRunner, settings: Settings, path: Path, bar: Progress, console: Console
) -> tuple[Job | None, str | None]:
    """The file's job when it ran (or had run), and why it failed (None: it did not)."""
    try:
        stored = await asyncio.to_thread(
            copy_file, path, settings.ingest_path, settings.ingest_max_bytes
        )
    except RefusedFile as error:
        console.print(f"[red]{path.name}:[/red] {error}")
        return None, str(error)
    submitted = await runner.jobs.submit(stored.sha256, path.name, stored.path, stored.size)
    task = bar.add_task(path.name, total=None)

    def progress(what: str, done: int, total: int) -> None:
        bar.update(task, description=f"{path.name}: {what}", completed=done, total=total)

    job: Job | None = await runner.run_next(submitted.job_id, progress)
    while job is not None and _to_retry(job) and not runner.closed:  # e.g. a page worker died
        job = await runner.run_next(submitted.job_id, progress)
    bar.remove_task(task)
    if job is None:  # done before, or another worker holds it
        job = await runner.jobs.get(submitted.job_id)
        if job is None or job["state"] not in (COMPLETE, FAILED):
            console.print(f"{path.name}: queued, another worker has it (job {submitted.job_id})")
            return job, None
        console.print(f"{path.name}: ingested before (job {submitted.job_id})")
        return job, failure(job)
    console.print(f"{path.name}: {_summary(job)} (job {job['_id']})")
    return job, failure(job)


def _to_retry(job: Job) -> bool:
    """Handed back after a failed attempt (the runner gives up after ``MAX_ATTEMPTS``)."""
    return bool(job["state"] == RUNNING and job["owner"] is None)


def failure(job: Job) -> str | None:
    """Why a finished job counts as failed: the file or a page unreadable, a document refused.
    Documents in review are not failures (they are in the review queue)."""
    if job["state"] == FAILED or job.get("error"):
        return str(job.get("error") or "failed")
    problems = [f"page {p['page'] + 1}: {p['error']}" for p in job.get("pages", [])
                if p["status"] == "error"]  # fmt: skip
    for document in job.get("documents", []):
        if document["status"] in ("refused", "error"):
            problems.append(f"document {document['number'] + 1}: {document.get('error', '')}")
    return "; ".join(problems) or None


def _summary(job: Job) -> str:
    errors = sum(p["status"] == "error" for p in job.get("pages", []))
    counts: dict[str, int] = {}
    for document in job.get("documents", []):
        counts[document["status"]] = counts.get(document["status"], 0) + 1
    parts = [f"{n} {status}" for status, n in sorted(counts.items())]
    if errors:
        parts.append(f"{errors} page errors")
    if job.get("error"):
        parts.append(str(job["error"]))
    return f"{job['state']}: " + (", ".join(parts) or "no documents")
