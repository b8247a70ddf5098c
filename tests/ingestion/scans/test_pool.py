"""The page pool (ingestion/scans/pool.py): real worker processes, real Tesseract."""

from __future__ import annotations

import io
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from ingestion.scans import synthetic
from ingestion.scans.ocr import Ocr
from ingestion.scans.pipeline import FileReading, PageFailure, PageReading, Pipeline
from ingestion.scans.pool import PagePool, PageTimeout, PoolClosed


@pytest.fixture(scope="module")
def batch() -> synthetic.SyntheticBatch:
    """Five pages: a loose page, then two documents each behind its separator sheet."""
    return synthetic.batch(seed=5, documents=2, pages_per_document=(1, 1), unsorted=1)


@pytest.fixture(scope="module")
def one_page() -> bytes:
    return synthetic.page(synthetic.specs(1)[0]).data


def with_huge_page(data: bytes) -> bytes:
    """The PDF with a last page far above the pixel cap: an error for that page alone."""
    pdf = pdfium.PdfDocument(data)
    pdf.new_page(20_000, 20_000)  # points: 277 inches square
    buffer = io.BytesIO()
    pdf.save(buffer)
    pdf.close()
    return buffer.getvalue()


def wait_for(condition: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def in_background(
    pool: PagePool, data: bytes
) -> tuple[threading.Thread, list[FileReading | BaseException]]:
    """The file read on a thread; the list gets the reading or what was raised."""
    outcome: list[FileReading | BaseException] = []

    def read() -> None:
        try:
            outcome.append(pool.read_file(data))
        except BaseException as error:
            outcome.append(error)

    reader = threading.Thread(target=read)
    reader.start()
    return reader, outcome


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):  # gone (or going while we read)
        return False
    return state not in ("Z", "X")  # a zombie has stopped, only not yet been reaped


def test_the_pool_reads_as_the_serial_pipeline_does(
    page_pool: PagePool, ocr: Ocr, batch: synthetic.SyntheticBatch
) -> None:
    data = with_huge_page(batch.data)
    before = Counter(page_pool.pages_read)
    pooled = page_pool.read_file(data)
    serial = Pipeline(ocr).read_file(data)

    assert pooled.kind == serial.kind == "pdf" and pooled.error is serial.error is None
    assert [type(p) for p in pooled.pages] == [type(p) for p in serial.pages]
    assert [p.index for p in pooled.pages] == list(range(6))
    *read, failed = pooled.pages
    assert failed == serial.pages[-1] and isinstance(failed, PageFailure)
    assert "pixels" in failed.error
    separators = []
    for mine, theirs in zip(read, serial.pages, strict=False):
        assert isinstance(mine, PageReading) and isinstance(theirs, PageReading)
        assert mine.image.index == mine.index
        assert (mine.image.pixels == theirs.image.pixels).all()
        assert mine.barcodes == theirs.barcodes and mine.colour == theirs.colour
        assert mine.text == theirs.text and mine.decision == theirs.decision
        separators.append(mine.separator)
    assert separators == [False, True, False, True, False]
    assert any(p.decision and p.decision.rows for p in read if isinstance(p, PageReading))

    # Both workers read pages of this file, and neither is this process.
    readers = {pid for pid, n in page_pool.pages_read.items() if n > before[pid]}
    assert len(readers) == 2 and os.getpid() not in readers
    assert sorted(readers) == sorted(page_pool.pids)


def test_a_file_that_cannot_be_opened_is_the_serial_pipelines_error(
    page_pool: PagePool, ocr: Ocr, batch: synthetic.SyntheticBatch
) -> None:
    for data in (b"", b"GIF89a not a scan", batch.data[: len(batch.data) // 2]):
        pooled, serial = page_pool.read_file(data), Pipeline(ocr).read_file(data)
        assert pooled.error is not None and pooled.error == serial.error
        assert pooled.pages == () and pooled.kind is None


def test_a_killed_worker_breaks_the_file_not_the_pool(
    page_pool: PagePool, batch: synthetic.SyntheticBatch, one_page: bytes
) -> None:
    page_pool.read_file(one_page)  # started
    done = sum(page_pool.pages_read.values())
    reader, outcome = in_background(page_pool, batch.data)
    wait_for(lambda: sum(page_pool.pages_read.values()) > done)  # mid-file: page 1 read
    victim = page_pool.pids[0]
    os.kill(victim, signal.SIGKILL)
    reader.join(30)
    assert not reader.is_alive()
    assert isinstance(outcome[0], BrokenProcessPool)

    again = page_pool.read_file(one_page)  # a new pool
    assert [isinstance(p, PageReading) for p in again.pages] == [True]
    assert victim not in page_pool.pids


def test_a_hung_worker_is_stopped_and_the_file_fails_in_time(one_page: bytes) -> None:
    pool = PagePool(1, page_timeout_s=2.0)  # plus WORKER_START_S for a new pool's first page
    try:
        pool.read_file(one_page)  # started
        [hung] = pool.pids
        os.kill(hung, signal.SIGSTOP)  # alive, and never answers
        started = time.monotonic()
        with pytest.raises(PageTimeout, match="page 1 was not read within 2 s"):
            pool.read_file(one_page)
        assert time.monotonic() - started < 10
        wait_for(lambda: not running(hung), 10)  # killed, not left behind
        again = pool.read_file(one_page)  # a new pool
        assert [isinstance(p, PageReading) for p in again.pages] == [True]
        assert hung not in pool.pids
    finally:
        pool.close()


def test_close_stops_the_workers_at_once(batch: synthetic.SyntheticBatch) -> None:
    pool = PagePool(1)
    reader, outcome = in_background(pool, batch.data)
    wait_for(lambda: sum(pool.pages_read.values()) > 0)  # mid-file
    [worker] = pool.pids
    started = time.monotonic()
    pool.close()
    assert time.monotonic() - started < 1.0
    reader.join(10)
    assert not reader.is_alive() and isinstance(outcome[0], PoolClosed)
    wait_for(lambda: not running(worker), 10)
    with pytest.raises(PoolClosed):
        pool.read_file(batch.data)
    pool.close()  # twice: nothing happens
