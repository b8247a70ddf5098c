"""The `medrec` command."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import TaskID
from rich.table import Table

from fhir_server.cli_support import DataDir, cli_settings, console
from fhir_server.config import Settings
from fhir_server.errors import FhirError
from fhir_server.storage.embedded import database_uri
from ingestion.cli import register as register_ingest_command
from ingestion.hl7v2.cli import app as hl7_app
from smart_auth.accounts.cli import register as register_account_commands
from smart_auth.audit.cli import register as register_audit_commands

app = typer.Typer(
    help="medrec: a FHIR R4 server for digitized medical records.", no_args_is_help=True
)
db_app = typer.Typer(help="Database commands.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(hl7_app, name="hl7")

_settings = cli_settings


# `medrec users …` and `medrec clients …` (smart_auth/accounts/cli.py)
register_account_commands(app, _settings, console)
# `medrec audit verify` (smart_auth/audit/cli.py)
register_audit_commands(app, _settings, console)
# `medrec ingest PATH...` (ingestion/cli.py)
register_ingest_command(app, _settings, console)


class _Stop(Exception):
    """SIGTERM, turned into an exception so that `finally` blocks (stopping the embedded
    database) run: uvicorn re-raises the signal it caught once it has shut down."""


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address [env: MEDREC_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [env: MEDREC_PORT]")] = None,
    data_dir: DataDir = None,
    demo: Annotated[bool, typer.Option("--demo", help="Load the demo data set first")] = False,
) -> None:
    """Run the FHIR server (starts the embedded database unless MEDREC_MONGODB_URI is set)."""
    import uvicorn

    from fhir_server.app import create_app

    overrides: dict[str, object] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    settings = _settings(data_dir, **overrides)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    with database_uri(settings.mongodb_uri, settings.data_dir) as uri:
        settings = settings.model_copy(update={"mongodb_uri": uri})
        if demo:
            count = asyncio.run(_load_demo(settings))
            console.print(f"demo data: {count} resources created")
        console.print(f"medrec FHIR base: [bold]http://{settings.host}:{settings.port}/fhir[/bold]")
        previous = signal.signal(signal.SIGTERM, _raise_stop)
        try:
            uvicorn.run(
                create_app(
                    settings,
                    export_worker=settings.export_worker,
                    ingest_worker=settings.ingest_worker,
                ),
                host=settings.host,
                port=settings.port,
                access_log=settings.access_log,
                log_level=settings.log_level,
                timeout_graceful_shutdown=settings.shutdown_timeout_s,
            )
        except (_Stop, KeyboardInterrupt):
            pass  # a requested stop: leave the `with` so the embedded database stops cleanly
        finally:
            signal.signal(signal.SIGTERM, previous)


@app.command()
def demo(data_dir: DataDir = None) -> None:
    """Load the demo data set (idempotent)."""
    settings = _settings(data_dir)
    with database_uri(settings.mongodb_uri, settings.data_dir) as uri:
        count = asyncio.run(_load_demo(settings.model_copy(update={"mongodb_uri": uri})))
    console.print(f"demo data: {count} resources created")


async def _load_demo(settings: Settings) -> int:
    from fhir_server.demo import load_demo
    from fhir_server.storage.mongo import connect
    from fhir_server.wiring import wire
    from smart_auth.accounts.demo import print_demo_accounts

    assert settings.mongodb_uri is not None
    client = connect(settings.mongodb_uri)
    try:
        db = client[settings.database]
        count = await load_demo(wire(db, settings.max_json_depth).repository)
        await print_demo_accounts(db, settings, console)  # demo users and SMART app
        return count
    finally:
        await client.close()


@db_app.command("status")
def db_status(data_dir: DataDir = None) -> None:
    """Show the database server, its topology and the resource collections."""
    from fhir_server.storage.mongo import connect, server_status

    settings = _settings(data_dir)

    async def status(uri: str) -> dict[str, object]:
        client = connect(uri)
        try:
            return await server_status(client, settings.database)
        finally:
            await client.close()

    with database_uri(settings.mongodb_uri, settings.data_dir) as uri:
        info = asyncio.run(status(uri))
    embedded = "embedded (SecantusDB)" if not settings.mongodb_uri else "external"
    console.print(
        f"database: {embedded}, server version {info['version']}, "
        f"replica set {info['replica_set']}, primary {info['primary']}"
    )
    table = Table("collection", "documents")
    collections = info["collections"]
    assert isinstance(collections, dict)
    for name, count in collections.items():
        table.add_row(name, str(count))
    console.print(table)


@app.command()
def reindex(
    rtype: Annotated[
        list[str] | None, typer.Option("--type", help="Only this resource type (repeatable)")
    ] = None,
    restart: Annotated[
        bool, typer.Option("--restart", help="Start over instead of resuming")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Recompute search index values (resumable: an interrupted run continues where it
    stopped)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from fhir_server.model.resource_types import supported_types
    from fhir_server.storage.collections import Collections
    from fhir_server.storage.index_format import record_format
    from fhir_server.storage.mongo import connect
    from fhir_server.storage.reindex import reindex as run_reindex

    settings = _settings(data_dir)
    unknown = sorted(set(rtype or ()) - supported_types())
    if unknown:
        console.print(f"[red]error:[/red] not resource types served here: {', '.join(unknown)}")
        raise typer.Exit(2)

    async def run(uri: str, bar: Progress) -> tuple[int, int]:
        client = connect(uri)
        try:
            collections = Collections(client[settings.database])
            types = rtype or await collections.existing_types(supported_types())
            tasks: dict[str, TaskID] = {}

            def progress(name: str, done: int, total: int) -> None:
                if name not in tasks:
                    tasks[name] = bar.add_task(name, total=total)
                bar.update(tasks[name], completed=done, total=total)

            result = await run_reindex(collections, sorted(types), progress, restart=restart)
            if not rtype:  # every type rewritten: the whole database is in the current format
                await record_format(collections.db)
            return result
        finally:
            await client.close()

    with (
        database_uri(settings.mongodb_uri, settings.data_dir) as uri,
        Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
        ) as bar,
    ):
        checked, changed = asyncio.run(run(uri, bar))
    console.print(f"reindexed {checked} resources ({changed} changed)")


@app.command()
def load(
    paths: Annotated[
        list[Path], typer.Argument(help="Bundle (.json) and NDJSON (.ndjson) files, or folders")
    ],
    max_file_bytes: Annotated[
        int,
        typer.Option(min=1, help="Largest JSON file read (NDJSON files are streamed: no limit)"),
    ] = 256 * 1024 * 1024,
    batch_size: Annotated[
        int, typer.Option(min=1, max=10_000, help="Resources per database transaction")
    ] = 100,
    restart: Annotated[
        bool, typer.Option("--restart", help="Load files again even if recorded as loaded")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Load FHIR transaction, batch and collection Bundles and NDJSON files (resumable: files
    already loaded are skipped, an interrupted NDJSON file continues where it stopped)."""
    from fhir_server.bulk.load_command import LoadOptions, find_or_exit, print_results, run_load

    files = find_or_exit(paths, console)
    settings = _settings(data_dir)
    options = LoadOptions(max_file_bytes, batch_size, restart)
    with database_uri(settings.mongodb_uri, settings.data_dir) as uri:
        settings = settings.model_copy(update={"mongodb_uri": uri})
        results = run_load(settings, files, options, console)
    if not print_results(results, console):
        raise typer.Exit(1)


@app.command()
def labels(
    patient: Annotated[str | None, typer.Option(help="Patient id")] = None,
    category: Annotated[str | None, typer.Option(help="Record category code")] = None,
    document: Annotated[str | None, typer.Option(help="Document id for the label")] = None,
    cover: Annotated[bool, typer.Option("--cover", help="A cover (separator) sheet")] = False,
    copies: Annotated[int, typer.Option(min=1, max=100, help="Identical labels")] = 1,
    calibration_card: Annotated[
        bool, typer.Option("--calibration-card", help="The colour calibration card")
    ] = False,
    output: Annotated[Path, typer.Option("-o", "--output", help="PDF file to write")] = Path(
        "label.pdf"
    ),
    data_dir: DataDir = None,
) -> None:
    """Print a patient's label or cover sheet, or the colour calibration card, as a PDF."""
    from ingestion.labels import LabelError

    if not calibration_card and not (patient and category):
        console.print("[red]error:[/red] give --patient and --category, or --calibration-card")
        raise typer.Exit(2)
    settings = _settings(data_dir)
    request = _LabelRequest(patient, category, document, cover, copies, calibration_card)
    try:
        with database_uri(settings.mongodb_uri, settings.data_dir) as uri:
            pdf = asyncio.run(_label(settings.model_copy(update={"mongodb_uri": uri}), request))
    except (LabelError, FhirError) as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from None
    output.write_bytes(pdf)
    console.print(f"wrote {output} ({len(pdf):,} bytes)")


@dataclass(frozen=True)
class _LabelRequest:
    patient: str | None
    category: str | None
    document: str | None
    cover: bool
    copies: int
    calibration_card: bool


async def _label(settings: Settings, request: _LabelRequest) -> bytes:
    """The PDF, with the site's stored colour map when it has one."""
    from fhir_server.storage.mongo import connect
    from fhir_server.wiring import wire
    from ingestion.labels import (
        calibration_card_pdf,
        category_styles,
        cover_sheet_pdf,
        label_pdf,
        patient_from_resource,
    )

    assert settings.mongodb_uri is not None
    client = connect(settings.mongodb_uri, timeout_ms=settings.mongodb_timeout_ms)
    try:
        wired = wire(client[settings.database], settings.max_json_depth)
        await wired.load_site_terminology()
        repository = wired.repository
        styles = category_styles(wired.terminology)
        if request.calibration_card:
            return calibration_card_pdf(styles)
        assert request.patient is not None and request.category is not None
        version = await repository.read("Patient", request.patient)
        assert version.body is not None
        subject = patient_from_resource(json.loads(version.body))
        if request.cover:
            return cover_sheet_pdf(subject, request.category, styles=styles)
        return label_pdf(
            subject, request.category, request.document, styles=styles, copies=request.copies
        )
    finally:
        await client.close()


@app.command()
def openapi(
    output: Annotated[Path, typer.Option(help="Where to write it")] = Path("openapi/openapi.json"),
) -> None:
    """Regenerate the OpenAPI document of the HTTP API."""
    from fhir_server.openapi_doc import openapi_document

    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n")
    console.print(f"wrote {output}")


if __name__ == "__main__":
    app()
