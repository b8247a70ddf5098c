"""``medrec hl7``: run the MLLP listener alone, list and retry dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import typer
from rich.table import Table

from fhir_server.cli_support import DataDir, cli_settings, console
from fhir_server.config import Settings
from fhir_server.storage.embedded import database_uri
from fhir_server.storage.mongo import connect
from fhir_server.wiring import wire
from ingestion.hl7v2.ack import ACCEPTED
from ingestion.hl7v2.receive import Receiver
from ingestion.hl7v2.service import open_receiver, start_listener
from smart_auth.audit.trail import AuditTrail

app = typer.Typer(help="HL7 v2 feeds (MLLP listener, dead letters).", no_args_is_help=True)
_settings = cli_settings


@asynccontextmanager
async def _receiver(settings: Settings, uri: str) -> AsyncIterator[Receiver]:
    client = connect(uri, timeout_ms=settings.mongodb_timeout_ms)
    try:
        wired = wire(client[settings.database], settings.max_json_depth)
        await wired.load_site_terminology()
        yield await open_receiver(settings, wired.repository, wired.terminology)
    finally:
        await client.close()


@app.command()
def listen(
    host: Annotated[str | None, typer.Option(help="Bind address [env: MEDREC_HL7_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [env: MEDREC_HL7_PORT]")] = None,
    data_dir: DataDir = None,
) -> None:
    """Run the MLLP listener (starts the embedded database unless MEDREC_MONGODB_URI is set)."""
    settings = _settings(data_dir, hl7_host=host, hl7_port=port)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    # On Ctrl-C leave the `with` quietly: the embedded database stops cleanly.
    with (
        database_uri(settings.mongodb_uri, settings.data_dir) as uri,
        contextlib.suppress(KeyboardInterrupt),
    ):
        asyncio.run(_listen(settings, uri))


async def _listen(settings: Settings, uri: str) -> None:
    async with _receiver(settings, uri) as receiver:
        listener = await start_listener(settings, receiver, AuditTrail(receiver.repository))
        console.print(f"MLLP listening on {settings.hl7_host}:{listener.port}")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        try:
            await stop.wait()
        finally:
            await listener.close()


@app.command("dead-letters")
def dead_letters(
    retry: Annotated[bool, typer.Option("--retry", help="Process each one again")] = False,
    data_dir: DataDir = None,
) -> None:
    """List the messages that could not be applied, with the reason; --retry applies them
    again (those that now succeed leave the list)."""
    settings = _settings(data_dir)
    with database_uri(settings.mongodb_uri, settings.data_dir) as uri:
        failed = asyncio.run(_dead_letters(settings, uri, retry))
    if failed:
        raise typer.Exit(1)


async def _dead_letters(settings: Settings, uri: str, retry: bool) -> int:
    async with _receiver(settings, uri) as receiver:
        letters = await receiver.store.dead_letters()
        table = Table("received", "sender", "control id", "type", "attempts", "reason", "result")
        failed = 0
        for letter in letters:
            result = ""
            if retry:
                received = await receiver.receive(letter.raw)
                if received.outcome == ACCEPTED:
                    await receiver.store.forget(letter.id)
                    result = "applied (duplicate)" if received.duplicate else "applied"
                else:
                    failed += 1
                    result = f"A{received.outcome}: {received.error}"
            table.add_row(
                letter.received.strftime("%Y-%m-%d %H:%M:%S"),
                letter.sender,
                letter.control_id,
                letter.message_type,
                str(letter.attempts),
                letter.reason,
                result,
            )
        console.print(table if letters else "no dead letters")
        return failed
