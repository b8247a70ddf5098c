"""`medrec audit verify`: check the audit trail's hash chain."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn

from fhir_server.config import Settings
from fhir_server.storage.embedded import database_uri
from fhir_server.storage.mongo import connect
from smart_auth.audit.verify import Verdict, verify_chain

SettingsOf = Callable[..., Settings]


def register(app: typer.Typer, settings_of: SettingsOf, console: Console) -> None:
    audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
    app.add_typer(audit_app, name="audit")

    @audit_app.command("verify")
    def verify(
        data_dir: Annotated[
            Path | None,
            typer.Option("--data-dir", help="Embedded database directory [env: MEDREC_DATA_DIR]"),
        ] = None,
    ) -> None:
        """Check every AuditEvent against the hash chain; name the first broken link."""
        settings = settings_of(data_dir)

        async def run(uri: str, bar: Progress) -> Verdict:
            client = connect(uri)
            task = bar.add_task("checked 0 events", total=None)
            try:
                return await verify_chain(
                    client[settings.database],
                    lambda done: bar.update(task, description=f"checked {done} events"),
                )
            finally:
                await client.close()

        with (
            database_uri(settings.mongodb_uri, settings.data_dir) as uri,
            Progress(SpinnerColumn(), TextColumn("{task.description}"), console=console) as bar,
        ):
            verdict = asyncio.run(run(uri, bar))
        if verdict.intact:
            console.print(f"audit trail intact: {verdict.checked} events, chain unbroken")
            return
        console.print(
            f"[red]audit trail BROKEN at event {verdict.broken_at}:[/red] {verdict.reason} "
            f"({verdict.checked} events before it are intact)"
        )
        raise typer.Exit(1)
