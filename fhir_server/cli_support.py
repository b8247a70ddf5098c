"""What every `medrec` sub-command shares: the console, the --data-dir option, and settings
read from the environment with command-line overrides (a bad setting is a clear error)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from fhir_server.config import Settings, load_settings

console = Console()

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Embedded database directory [env: MEDREC_DATA_DIR]"),
]


def cli_settings(data_dir: Path | None, **overrides: object) -> Settings:
    """Settings, with ``data_dir`` and the options given (None: not given) on top."""
    given = {name: value for name, value in overrides.items() if value is not None}
    if data_dir is not None:
        given["data_dir"] = data_dir
    try:
        return load_settings(**given)
    except ValidationError as exc:
        for error in exc.errors():
            name = "MEDREC_" + "_".join(str(part) for part in error["loc"]).upper()
            console.print(f"[red]error:[/red] {name}: {error['msg']} (got {error['input']!r})")
        raise typer.Exit(2) from None
