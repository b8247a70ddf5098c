"""``medrec ingest PATH...`` as a command, and ``--watch``'s consumption folder."""

from __future__ import annotations

import io
import os
import signal
import time
from pathlib import Path

from rich.console import Console
from rich.progress import Progress

from fhir_server.config import Settings
from ingestion.cli import ingest_file, watch_once
from ingestion.jobs import COMPLETE, JobRunner
from tests.ingestion.scan_support import lab_page
from tests.test_cli import cli_env, run

__all__ = ["cli_env"]  # the fixture, imported for these tests


def test_medrec_ingest(cli_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "lab.png").write_bytes(lab_page(seed=14).data)
    (tmp_path / "notes.txt").write_text("not a scan")
    env = {**cli_env, "MEDREC_DATA_DIR": str(tmp_path / "data")}
    first = run(["ingest", "lab.png", "notes.txt"], env, tmp_path)
    assert first.returncode == 1, first.stdout + first.stderr  # notes.txt is refused
    assert "lab.png: complete: 1 review" in first.stdout  # no such patient here: review
    assert "notes.txt: not a PNG, JPEG, TIFF or PDF file" in first.stdout
    again = run(["ingest", "lab.png"], env, tmp_path)
    assert again.returncode == 0 and "lab.png: ingested before" in again.stdout
    assert (tmp_path / "data" / "scan.key").is_file()


async def test_watch_moves_files_to_done_or_failed(runner: JobRunner, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "lab.png").write_bytes(lab_page(seed=14).data)
    (inbox / "cut.png").write_bytes(lab_page(seed=14).data[:3000])
    (inbox / "arriving.png").write_bytes(b"\x89PNG")  # still being written by the scanner
    old = time.time() - 60
    for name in ("lab.png", "cut.png"):
        os.utime(inbox / name, (old, old))
    settings = Settings(data_dir=tmp_path / "data")
    console = Console(file=io.StringIO())
    with Progress(console=console) as bar:
        handled = await watch_once(runner, settings, inbox, bar, console)
    assert handled == 2
    assert sorted(p.name for p in (inbox / "done").iterdir()) == ["lab.png"]
    failed = sorted(p.name for p in (inbox / "failed").iterdir())
    assert failed == ["cut.png", "cut.png.reason.txt"]
    assert "page 1:" in (inbox / "failed" / "cut.png.reason.txt").read_text()
    assert (inbox / "arriving.png").exists()


async def test_an_attempt_whose_page_worker_died_is_run_again(
    runner: JobRunner, tmp_path: Path
) -> None:
    page = lab_page(seed=15)
    await runner.read_file(page.data)  # the pool's workers are up
    for pid in runner.pages.pids:  # and die before the job's attempt reads its page
        os.kill(pid, signal.SIGKILL)
    (tmp_path / "lab.png").write_bytes(page.data)
    settings = Settings(data_dir=tmp_path / "data")
    console = Console(file=io.StringIO())
    with Progress(console=console) as bar:
        job, reason = await ingest_file(runner, settings, tmp_path / "lab.png", bar, console)
    assert job is not None and (job["state"], job["attempts"]) == (COMPLETE, 2)
    assert reason is None  # in review (no such patient here), not a failure
