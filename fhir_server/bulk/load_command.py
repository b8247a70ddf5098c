"""The console side of ``medrec load``: which files, the progress bar, the per-file report."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import typer
from pymongo.errors import PyMongoError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from fhir_server.bulk.load import FileResult, Loader, open_repository
from fhir_server.bulk.sources import find_files
from fhir_server.config import Settings
from fhir_server.storage.mongo import connect


@dataclass(frozen=True)
class LoadOptions:
    max_file_bytes: int
    batch_size: int
    restart: bool


def find_or_exit(paths: list[Path], console: Console) -> list[Path]:
    """The files to load; exit 2 (bad usage) when a path does not exist or names nothing."""
    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        console.print(f"[red]error:[/red] no such file or folder: {', '.join(missing)}")
        raise typer.Exit(2)
    files = find_files(paths)
    if not files:
        console.print("[red]error:[/red] no .json or .ndjson files found")
        raise typer.Exit(2)
    return files


def run_load(
    settings: Settings, files: list[Path], options: LoadOptions, console: Console
) -> list[FileResult]:
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        try:
            return asyncio.run(_load_all(settings, files, options, bar))
        except PyMongoError as error:
            # The database, not the input: stop; a re-run resumes after what was committed.
            console.print(f"[red]error:[/red] database: {type(error).__name__}: {error}")
            raise typer.Exit(1) from None


async def _load_all(
    settings: Settings, files: list[Path], options: LoadOptions, bar: Progress
) -> list[FileResult]:
    assert settings.mongodb_uri is not None
    client = connect(settings.mongodb_uri, timeout_ms=settings.mongodb_timeout_ms)
    overall = bar.add_task("files", total=len(files))
    tasks: dict[Path, TaskID] = {}

    def progress(path: Path, done: int, total: int) -> None:
        if path not in tasks:
            tasks[path] = bar.add_task(f"  {path.name[:60]}", total=total)
        bar.update(tasks[path], completed=done, total=total)

    try:
        repository, codes = await open_repository(
            client[settings.database], settings.max_json_depth
        )
        loader = Loader(
            repository,
            codes,
            max_file_bytes=options.max_file_bytes,
            max_line_bytes=settings.max_body_bytes,
            max_bundle_entries=settings.max_bundle_entries,
            batch=options.batch_size,
            restart=options.restart,
            progress=progress,
        )
        results = []
        for path in files:
            results.append(await loader.load(path))
            if path in tasks:  # finished: keep the screen to the files still loading
                bar.remove_task(tasks.pop(path))
            bar.advance(overall)
        return results
    finally:
        await client.close()


def print_results(results: list[FileResult], console: Console) -> bool:
    """The per-file table and the first reasons of each failure; True when nothing failed."""
    table = Table("file", "result", "loaded", "failed", "note")
    for result in results:
        table.add_row(
            str(result.path), result.status, str(result.loaded), str(result.failed), result.note
        )
    console.print(table)
    for result in results:
        if result.status == "failed":
            console.print(f"[red]failed:[/red] {result.path}")
            for reason in result.reasons:
                console.print(f"  {reason}", markup=False, highlight=False)
            if result.failed > len(result.reasons):
                console.print(f"  ... and {result.failed - len(result.reasons)} more")
    totals = {
        status: sum(1 for r in results if r.status == status)
        for status in ("loaded", "failed", "skipped")
    }
    resources = sum(r.loaded for r in results if r.status != "skipped")
    console.print(
        f"{resources} resources loaded; files: {totals['loaded']} loaded, "
        f"{totals['failed']} failed, {totals['skipped']} skipped"
    )
    return totals["failed"] == 0
