"""Steps 1-7 for a whole file, its pages read in parallel by worker processes: one ``Pipeline``
(one Tesseract, its model loaded once) per process, one process per core by default.

Processes, not threads: PDFium and Tesseract are not thread-safe. Started with "spawn", never
fork: the parent has pymongo's and asyncio's threads, whose locks a forked child would inherit
held.

The file is opened and its pages rasterized here, in the parent, on one thread (PDFium is
process-wide); each page image goes to one worker, which sends back what the page says without
its pixels (``PageFindings``). A page therefore crosses to a worker once (≈ 40 ms for a 26 MB
A4 colour page; see docs/digitization.md) and the file never does: handing every page task the
whole file would copy it once per page. The reading is the serial ``Pipeline.read_file``'s:
same pages in the same order, same ``PageFailure``s and whole-file errors.

A worker that dies (killed, a crash in a native library) breaks the pool: the file's reading
raises ``BrokenProcessPool`` and the next reading starts a new pool. A worker that hangs (a
native library looping on a malformed page) would hold the file forever: when no page of the
file has come back for ``page_timeout_s``, the pool's workers are stopped, the reading raises
``PageTimeout`` and the next one starts a new pool. Either way the job's attempt fails and is
retried, up to its attempts (``jobs.py``). ``close()`` stops the workers at once; a reading in
progress then raises ``PoolClosed``.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import cv2

from ingestion.scans.colour import DEFAULT_REFERENCES, ColourClassifier, Lab
from ingestion.scans.errors import ScanError
from ingestion.scans.ocr import Ocr
from ingestion.scans.page import PageImage
from ingestion.scans.pipeline import FileReading, PageFailure, PageFindings, PageReading, Pipeline
from ingestion.scans.rasterize import DEFAULT_MAX_PIXELS, Kind, open_scan
from terminology.lab_matcher import default_matcher

Examined = tuple[int, PageFindings | PageFailure]  # (the worker's pid, what it found)
Pending = PageFailure | tuple[PageImage, "Future[Examined]"]
# A page takes about a second of CPU (a 100-megapixel one, the most a page may have, about 30);
# a file's pages queue behind other files' on the same workers.
PAGE_TIMEOUT_S = 300.0
# Added to the first page a new pool returns: its workers' start (spawn, imports, Tesseract's
# model: 2.4 s measured, more on a loaded machine) is not a hang.
WORKER_START_S = 60.0


class PoolClosed(RuntimeError):
    """The pool was closed before the file was read."""


class PageTimeout(RuntimeError):
    """No page of the file came back in time: a worker hangs. The pool's workers were stopped."""


def new_pipeline(references: Mapping[str, Lab] = DEFAULT_REFERENCES) -> Pipeline:
    """``references``: the colour stage's reference colours (calibrated, or the defaults)."""
    default_matcher()  # the lab test catalogue: built before the first page, not during it
    return Pipeline(Ocr(), ColourClassifier(references))


def default_processes() -> int:
    """The cores this process may run on (a container's CPU set, not the host's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class PagePool:
    """Reads files with ``processes`` worker processes, started at the first file (an app
    that never gets a scan starts none). Thread-safe: files read at once share the workers."""

    def __init__(
        self,
        processes: int | None = None,
        references: Mapping[str, Lab] = DEFAULT_REFERENCES,
        *,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        page_timeout_s: float = PAGE_TIMEOUT_S,
    ) -> None:
        self.processes = processes or default_processes()
        self.page_timeout_s = page_timeout_s
        self.references = dict(references)  # plain and picklable, for the workers' start
        self.max_pixels = max_pixels
        self.pages_read: Counter[int] = Counter()  # worker pid → pages it read
        self._lock = threading.Lock()
        self._workers: ProcessPoolExecutor | None = None
        self._proven: ProcessPoolExecutor | None = None  # the pool that has returned a page
        self._closed = False
        # PDFium keeps process-wide state: every file is opened and rasterized on this thread.
        self._rasterizer = ThreadPoolExecutor(1, thread_name_prefix="medrec-rasterize")

    def read_file(self, data: bytes) -> FileReading:
        """Blocks until every page is read; call it off the event loop."""
        workers = self._current()
        try:
            return self._read(workers, data)
        except BrokenProcessPool:
            if self._closed:
                raise PoolClosed from None
            self._forget(workers)
            raise
        except CancelledError:  # close() cancelled what was still queued
            raise PoolClosed from None

    def _read(self, workers: ProcessPoolExecutor, data: bytes) -> FileReading:
        try:
            dispatched = self._rasterizer.submit(self._dispatch, workers, data)
        except RuntimeError:  # "cannot schedule new futures after shutdown": close()
            raise PoolClosed from None
        try:
            kind, pending = dispatched.result()
        except ScanError as error:
            return FileReading(None, (), str(error))
        try:
            return FileReading(kind, tuple(self._collect(workers, item) for item in pending))
        except BaseException:
            for item in pending:  # of no use now
                if isinstance(item, tuple):
                    item[1].cancel()
            raise

    @property
    def pids(self) -> list[int]:
        """The running worker processes (none before the first file)."""
        with self._lock:
            return [] if self._workers is None else list(self._workers._processes)

    def close(self) -> None:
        """Stops the workers at once, mid-page or not, and returns without waiting for them."""
        with self._lock:
            self._closed = True
            workers, self._workers = self._workers, None
        self._rasterizer.shutdown(wait=False, cancel_futures=True)
        if workers is not None:
            _stop(workers)

    def _current(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise PoolClosed
            if self._workers is None:
                self._workers = ProcessPoolExecutor(
                    self.processes,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_worker,
                    initargs=(self.references,),
                )
            return self._workers

    def _dispatch(self, workers: ProcessPoolExecutor, data: bytes) -> tuple[Kind, list[Pending]]:
        """Rasterize each page and hand it to a worker at once, so that the workers start on
        the first pages while the later ones are rasterized."""
        with open_scan(data, max_pixels=self.max_pixels) as scan:
            pending: list[Pending] = []
            for index in range(scan.page_count):
                try:
                    image = scan.page(index)
                except ScanError as error:
                    pending.append(PageFailure(index, str(error)))
                    continue
                pending.append((image, self._submit(workers, image)))
            return scan.kind, pending

    def _submit(self, workers: ProcessPoolExecutor, image: PageImage) -> Future[Examined]:
        try:
            return workers.submit(_examine, image)
        except BrokenProcessPool:
            raise
        except RuntimeError:  # "cannot schedule new futures after shutdown": close()
            raise PoolClosed from None

    def _collect(self, workers: ProcessPoolExecutor, item: Pending) -> PageReading | PageFailure:
        """The next page's reading, waiting at most ``page_timeout_s`` after the previous one
        (pages come back about in order, so that is how long no worker made progress on it),
        plus ``WORKER_START_S`` until the pool has returned a page."""
        if isinstance(item, PageFailure):
            return item
        image, future = item
        timeout = self.page_timeout_s
        if workers is not self._proven:
            timeout += WORKER_START_S
        try:
            pid, found = future.result(timeout=timeout)
        except TimeoutError:
            _stop(workers, kill=True)  # the hung worker and the others: a new pool comes next
            self._forget(workers)
            raise PageTimeout(
                f"page {image.index + 1} was not read within {self.page_timeout_s:g} s"
            ) from None
        with self._lock:  # files read at once count here together
            self.pages_read[pid] += 1
            self._proven = workers
        return found if isinstance(found, PageFailure) else found.reading(image)

    def _forget(self, broken: ProcessPoolExecutor) -> None:
        """A worker died: the next file gets a new pool (the broken one stopped its other
        workers)."""
        with self._lock:
            if self._workers is broken:
                self._workers = None
        broken.shutdown(wait=False, cancel_futures=True)


def _stop(workers: ProcessPoolExecutor, *, kill: bool = False) -> None:
    """``kill``: SIGKILL, for workers that may not be running code (a hung or stopped one)."""
    processes = list((workers._processes or {}).values())
    workers.shutdown(wait=False, cancel_futures=True)
    for process in processes:  # a page takes seconds: not waited for
        if kill:
            process.kill()
        else:
            process.terminate()


# The worker's side: one pipeline per process, made once by the pool's initializer.
_pipeline: Pipeline | None = None


def _start_worker(references: dict[str, Lab]) -> None:
    global _pipeline
    # Ctrl-C reaches the whole process group: the parent decides, the workers are stopped by it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cv2.setNumThreads(1)  # one core each: the workers together already fill the machine
    _pipeline = new_pipeline(references)


def _examine(image: PageImage) -> Examined:
    assert _pipeline is not None, "started by _start_worker"
    try:
        return os.getpid(), _pipeline.examine(image)
    except ScanError as error:  # this page only, as in Pipeline.read_file
        return os.getpid(), PageFailure(image.index, str(error))
