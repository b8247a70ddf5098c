"""Ingest benchmark: Synthea-shaped patient transaction bundles posted to medrec, against the
raw driver's ``insert_many`` of the same documents.

    uv run python bench/ingest.py [--bundles 8] [--min-entries 200] [--max-entries 3000]

Starts its own embedded database (SecantusDB, in a temp dir) and ``medrec serve`` on a free
port, as ``crud.py`` does. Generates patient bundles (``fhir_server.bulk.synthetic``: one
Patient and its encounters, vital signs, labs with DiagnosticReports, conditions, procedures,
prescriptions, immunizations, allergies, care plans; ``urn:uuid`` references), sizes drawn
uniformly between ``--min-entries`` and ``--max-entries``, and posts them as transactions
(``POST /fhir``) at each concurrency of ``--concurrency``, ``--bundles`` bundles per run.

The baseline then reads back the documents medrec stored and inserts the same documents,
grouped per bundle and per resource type, with ``insert_many`` into collections that have
medrec's indexes (a fresh database), at the same concurrencies: what storing these
resources costs the database with no FHIR work at all (no parsing, validation, reference
resolution, index extraction, transaction).

Then it exports everything medrec stored with Bulk Data ``$export`` (kick-off, polling every
50 ms, the manifest; then the NDJSON files downloaded), against a raw dump of the same
collections: one ``find`` cursor per type, each document's resource written as an NDJSON line to
a file (fsynced at its end, as the export's parts are). Measured in the order export, raw, raw,
export, so that a drift of the database cancels out; the figures are the sums of both rounds. It
only reports: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import shlex
import signal
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pymongo
from pymongo import AsyncMongoClient
from rich.console import Console
from rich.table import Table

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

import crud  # noqa: E402  (also puts the repository root on sys.path)
from crud import (  # noqa: E402
    MedrecServer,
    available_cpus,
    cpu_model,
    database_version,
    event_loop_runner,
    make_http,
    pick_client,
    process_cpu_seconds,
    workspace,
)

from fhir_server.bulk.synthetic import patient_bundle  # noqa: E402
from fhir_server.model.resource_types import supported_types  # noqa: E402
from fhir_server.storage.collections import Collections  # noqa: E402
from fhir_server.storage.embedded import EmbeddedDatabase  # noqa: E402
from fhir_server.storage.mongo import connect  # noqa: E402

Document = dict[str, Any]

# Targets (reported, never asserted).
TARGET_RESOURCES_PER_S = 1000.0
TARGET_RAW_RATIO = 0.30
TARGET_EXPORT_RAW_RATIO = 0.80
EXPORT_POLL_S = 0.05


@dataclass
class RunResult:
    target: str  # medrec | raw
    concurrency: int
    bundles: int = 0
    resources: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds per bundle
    server_cpu: float | None = None  # medrec process CPU seconds over the run
    database_cpu: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.resources / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float | None:
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    def cpu_ms_per_resource(self, cpu: float | None) -> float | None:
        return None if cpu is None or not self.resources else cpu * 1000 / self.resources


async def run_closed_loop(
    jobs: list[tuple[int, Callable[[], Awaitable[None]]]],
    concurrency: int,
    result: RunResult,
    pids: tuple[int | None, int],
) -> RunResult:
    """Run ``jobs`` ((resources, job)) with ``concurrency`` workers; time each and the whole."""
    server_pid, database_pid = pids
    queue = list(reversed(jobs))
    server_before = process_cpu_seconds(server_pid) if server_pid else None
    database_before = process_cpu_seconds(database_pid)

    async def worker() -> None:
        while queue:
            resources, job = queue.pop()
            started = time.perf_counter()
            try:
                await job()
            except Exception as error:  # reported with the figures, never hidden
                result.errors.append(f"{type(error).__name__}: {str(error)[:300]}")
                continue
            result.latencies.append(time.perf_counter() - started)
            result.bundles += 1
            result.resources += resources

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    if server_pid and server_before is not None:
        result.server_cpu = process_cpu_seconds(server_pid) - server_before
    result.database_cpu = process_cpu_seconds(database_pid) - database_before
    return result


def bundle_sizes(options: Options, run: int) -> list[int]:
    rng = random.Random(f"{options.seed}-{run}")
    return [rng.randint(options.min_entries, options.max_entries) for _ in range(options.bundles)]


async def post_bundles(
    options: Options, server: MedrecServer, concurrency: int, run: int, pids: tuple[int, int]
) -> RunResult:
    sizes = bundle_sizes(options, run)
    bodies = [
        orjson.dumps(patient_bundle(options.seed * 1000 + run * 100 + n, size))
        for n, size in enumerate(sizes)
    ]
    http = make_http(options.client, server.base, concurrency)

    def job(body: bytes) -> Callable[[], Awaitable[None]]:
        async def post() -> None:
            await http.request("POST", "", body)

        return post

    try:
        jobs = [(size, job(body)) for size, body in zip(sizes, bodies, strict=True)]
        return await run_closed_loop(jobs, concurrency, RunResult("medrec", concurrency), pids)
    finally:
        await http.close()


async def stored_bundles(
    client: AsyncMongoClient[Document], database: str
) -> list[list[tuple[str, list[Document]]]]:
    """The documents medrec stored, grouped per patient (one bundle each) and type."""
    db = client[database]
    groups: dict[str, dict[str, list[Document]]] = defaultdict(lambda: defaultdict(list))
    types = await Collections(db).existing_types(supported_types())
    for rtype in types:
        async for doc in db[rtype].find({}):
            owner = doc["_id"] if rtype == "Patient" else (doc.get("comp") or ["?"])[0]
            groups[owner][rtype].append(doc)
    return [list(by_type.items()) for by_type in groups.values()]


async def raw_inserts(
    client: AsyncMongoClient[Document],
    bundles: list[list[tuple[str, list[Document]]]],
    concurrency: int,
    pids: tuple[None, int],
) -> RunResult:
    db = client[f"bench_raw_{uuid.uuid4().hex[:10]}"]
    await Collections(db).ensure_indexes(sorted({t for b in bundles for t, _ in b}))

    def job(bundle: list[tuple[str, list[Document]]]) -> Callable[[], Awaitable[None]]:
        async def insert() -> None:
            for rtype, docs in bundle:
                await db[rtype].insert_many([dict(doc) for doc in docs])

        return insert

    jobs = [(sum(len(docs) for _, docs in b), job(b)) for b in bundles]
    try:
        return await run_closed_loop(jobs, concurrency, RunResult("raw", concurrency), pids)
    finally:
        await client.drop_database(db.name)


# -- export ------------------------------------------------------------------------------------


@dataclass
class ExportResult:
    target: str  # medrec $export | raw find dump
    resources: int = 0
    bytes: int = 0
    seconds: float = 0.0  # medrec: kick-off to manifest; raw: the whole dump
    download_s: float = 0.0  # medrec only: fetching every file of the manifest
    files: int = 0
    server_cpu: float | None = None
    database_cpu: float = 0.0
    types: list[str] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.resources / self.seconds if self.seconds else 0.0

    def add(self, other: ExportResult) -> None:
        self.resources += other.resources
        self.bytes += other.bytes
        self.seconds += other.seconds
        self.download_s += other.download_s
        self.files += other.files
        if other.server_cpu is not None:
            self.server_cpu = (self.server_cpu or 0.0) + other.server_cpu
        self.database_cpu += other.database_cpu
        self.types = other.types or self.types


async def medrec_export(server: MedrecServer, pids: tuple[int, int]) -> ExportResult:
    """``GET /$export``, polled until the manifest comes, then every file downloaded."""
    result = ExportResult("medrec $export")
    server_before, database_before = (process_cpu_seconds(pid) for pid in pids)
    async with httpx.AsyncClient(base_url=server.base, timeout=600) as http:
        started = time.perf_counter()
        response = await http.get("/$export", headers={"Prefer": "respond-async"})
        if response.status_code != 202:
            raise RuntimeError(f"$export: HTTP {response.status_code} {response.text[:300]}")
        status = response.headers["content-location"]
        while True:  # the status every EXPORT_POLL_S, not every Retry-After: a finer clock
            response = await http.get(status)
            if response.status_code != 202:
                break
            await asyncio.sleep(EXPORT_POLL_S)
        if response.status_code != 200:
            raise RuntimeError(f"$export status: HTTP {response.status_code}")
        result.seconds = time.perf_counter() - started
        result.server_cpu = process_cpu_seconds(pids[0]) - server_before
        result.database_cpu = process_cpu_seconds(pids[1]) - database_before
        manifest = response.json()
        started = time.perf_counter()
        for item in manifest["output"]:
            async with http.stream("GET", item["url"]) as download:
                async for chunk in download.aiter_bytes():
                    result.bytes += len(chunk)
                    result.resources += chunk.count(b"\n")
            result.files += 1
        result.download_s = time.perf_counter() - started
        await http.delete(status)  # its files go
    result.types = sorted({item["type"] for item in manifest["output"]})
    return result


async def raw_dump(
    client: AsyncMongoClient[Document],
    database: str,
    types: list[str],
    folder: Path,
    database_pid: int,
) -> ExportResult:
    """What an export costs with no FHIR work: a cursor per type, each resource's JSON a line."""
    result = ExportResult("raw find dump", types=types)
    db = client[database]
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    database_before = process_cpu_seconds(database_pid)
    started = time.perf_counter()
    for rtype in types:
        with (folder / f"{rtype}.ndjson").open("wb") as out:
            async for doc in db[rtype].find({"del": {"$ne": True}}, {"res": 1, "raw": 1}):
                raw = doc.get("raw")
                line = (bytes(raw) if raw is not None else orjson.dumps(doc["res"])) + b"\n"
                out.write(line)
                result.resources += 1
                result.bytes += len(line)
            out.flush()
            os.fsync(out.fileno())
        result.files += 1
    result.seconds = time.perf_counter() - started
    result.database_cpu = process_cpu_seconds(database_pid) - database_before
    return result


async def export_rounds(
    client: AsyncMongoClient[Document],
    server: MedrecServer,
    database: EmbeddedDatabase,
    workdir: Path,
    console: Console,
) -> list[ExportResult]:
    """Export, raw, raw, export (ABBA); each target's figures summed over its two rounds."""
    assert database.pid is not None
    medrec, raw = ExportResult("medrec $export"), ExportResult("raw find dump")
    first = await medrec_export(server, (server.pid, database.pid))
    print_line(console, export_line(first))
    medrec.add(first)
    for round_ in range(2):
        folder = workdir / f"raw-dump-{round_}"
        dumped = await raw_dump(client, server.database, first.types, folder, database.pid)
        print_line(console, export_line(dumped))
        raw.add(dumped)
    second = await medrec_export(server, (server.pid, database.pid))
    print_line(console, export_line(second))
    medrec.add(second)
    return [medrec, raw]


def export_line(r: ExportResult) -> str:
    per = max(r.resources, 1)
    medrec_cpu = "" if r.server_cpu is None else f"medrec {r.server_cpu * 1000 / per:.3f}, "
    download = f"; files downloaded in {r.download_s:.1f} s" if r.server_cpu is not None else ""
    return (
        f"{r.target}: {r.resources:,} resources, {r.bytes / 1e6:.1f} MB in {r.files} files, "
        f"{r.seconds:.2f} s = {r.per_second:.0f} resources/s{download}; CPU ms/resource "
        f"{medrec_cpu}database {r.database_cpu * 1000 / per:.3f}"
    )


def export_ratio_line(results: list[ExportResult]) -> str:
    medrec, raw = results
    ratio = medrec.per_second / raw.per_second if raw.per_second else None
    meets = ratio is not None and ratio >= TARGET_EXPORT_RAW_RATIO
    same = "yes" if medrec.resources == raw.resources else "NO"
    return (
        f"export: medrec $export {medrec.per_second:.0f} resources/s (kick-off to manifest); "
        f"raw find dump {raw.per_second:.0f} resources/s; medrec / raw "
        f"{'-' if ratio is None else f'{ratio:.2f}'} (target >= {TARGET_EXPORT_RAW_RATIO:.2f}: "
        f"{'met' if meets else 'MISSED'}); same resources in both: {same}"
    )


async def benchmark(
    options: Options,
    server: MedrecServer,
    database: EmbeddedDatabase,
    console: Console,
    workdir: Path,
) -> tuple[list[RunResult], list[ExportResult]]:
    assert database.pid is not None
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    loop.add_signal_handler(signal.SIGTERM, task.cancel)  # close clients before the processes
    client: AsyncMongoClient[Document] = connect(database.uri, app_name="medrec-bench-raw")
    results: list[RunResult] = []
    try:
        console.rule("medrec: POST transaction bundles")
        for run, concurrency in enumerate(options.concurrency):
            result = await post_bundles(
                options, server, concurrency, run, (server.pid, database.pid)
            )
            results.append(result)
            print_line(console, summary_line(result))
        console.rule("raw driver: insert_many of the same documents")
        bundles = await stored_bundles(client, server.database)
        for concurrency in options.concurrency:
            result = await raw_inserts(client, bundles, concurrency, (None, database.pid))
            results.append(result)
            print_line(console, summary_line(result))
        console.rule("medrec $export against a raw find dump of the same collections")
        exports = await export_rounds(client, server, database, workdir, console)
        return results, exports
    finally:
        await client.close()
        loop.remove_signal_handler(signal.SIGTERM)
        signal.signal(signal.SIGTERM, crud._interrupt)


# -- reporting ---------------------------------------------------------------------------------


def _ms(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value * 1000:.{digits}f}"


def _cpu(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def summary_line(r: RunResult) -> str:
    server = r.cpu_ms_per_resource(r.server_cpu)
    return (
        f"{r.target} c={r.concurrency}: {r.resources:,} resources in {r.bundles} bundles, "
        f"{r.seconds:.1f} s = {r.per_second:.0f} resources/s; per bundle p50 "
        f"{_ms(r.percentile(50), 0)} ms, p95 {_ms(r.percentile(95), 0)} ms; CPU ms/resource "
        f"medrec {_cpu(server)}, database {_cpu(r.cpu_ms_per_resource(r.database_cpu))}; "
        f"{len(r.errors)} errors" + "".join(f"\n    error: {e}" for e in r.errors[:3])
    )


def results_table(results: list[RunResult]) -> Table:
    table = Table(title="Ingest", title_justify="left")
    for name in (
        "target",
        "conc",
        "bundles",
        "resources",
        "s",
        "resources/s",
        "p50 ms/bundle",
        "p95 ms/bundle",
        "medrec CPU ms/res",
        "db CPU ms/res",
        "errors",
    ):
        table.add_column(name, justify="left" if name == "target" else "right")
    for r in results:
        table.add_row(
            r.target,
            str(r.concurrency),
            str(r.bundles),
            f"{r.resources:,}",
            f"{r.seconds:.1f}",
            f"{r.per_second:.0f}",
            _ms(r.percentile(50), 0),
            _ms(r.percentile(95), 0),
            _cpu(r.cpu_ms_per_resource(r.server_cpu)),
            _cpu(r.cpu_ms_per_resource(r.database_cpu)),
            str(len(r.errors)),
        )
    return table


def ratio_lines(results: list[RunResult]) -> list[str]:
    lines = []
    raw = {r.concurrency: r for r in results if r.target == "raw"}
    for r in results:
        if r.target != "medrec":
            continue
        base = raw.get(r.concurrency)
        ratio = r.per_second / base.per_second if base and base.per_second else None
        meets_rate = r.per_second >= TARGET_RESOURCES_PER_S
        meets_ratio = ratio is not None and ratio >= TARGET_RAW_RATIO
        ratio_text = "-" if ratio is None else f"{ratio:.2f}"
        lines.append(
            f"ingest c={r.concurrency}: medrec {r.per_second:.0f} resources/s "
            f"(target >= {TARGET_RESOURCES_PER_S:.0f}: {'met' if meets_rate else 'MISSED'}); "
            f"raw insert_many {base.per_second if base else 0:.0f} resources/s; medrec / raw "
            f"{ratio_text} (target >= {TARGET_RAW_RATIO:.2f}: "
            f"{'met' if meets_ratio else 'MISSED'})"
        )
    return lines


def print_line(console: Console, text: str) -> None:
    console.print(text, highlight=False, soft_wrap=True, markup=False)


# -- options and main --------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    bundles: int
    min_entries: int
    max_entries: int
    concurrency: list[int]
    seed: int
    client: str
    keep_data: bool


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundles", type=int, default=8, help="bundles per concurrency run")
    parser.add_argument("--min-entries", type=int, default=200)
    parser.add_argument("--max-entries", type=int, default=3000)
    parser.add_argument("--concurrency", default="1,4", help="comma-separated, e.g. 1,4")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--client", choices=("auto", "aiohttp", "httpx"), default="auto")
    parser.add_argument("--keep-data", action="store_true", help="keep the temp dir and logs")
    args = parser.parse_args(argv)
    if not 2 <= args.min_entries <= args.max_entries:
        parser.error("need 2 <= --min-entries <= --max-entries")
    return Options(
        args.bundles,
        args.min_entries,
        args.max_entries,
        [int(c) for c in args.concurrency.split(",")],
        args.seed,
        pick_client(args.client),
        args.keep_data,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, crud._interrupt)  # clean up as on Ctrl-C: medrec, then the db
    console = Console(width=None if sys.stdout.isatty() else 200)
    runner, loop_name = event_loop_runner()
    console.rule("medrec ingest benchmark")
    print_line(console, f"command:  {shlex.join([Path(sys.executable).name, *sys.argv])}")
    print_line(console, f"python:   {sys.executable} ({platform.python_version()})")
    load_average = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print_line(
        console,
        f"machine:  {available_cpus()} CPUs (nproc), {cpu_model()}, {platform.platform()}, "
        f"load average {load_average}",
    )
    print_line(
        console,
        f"data:     {options.bundles} Synthea-shaped patient transaction bundles per run, "
        f"{options.min_entries}-{options.max_entries} entries each (seed {options.seed}), "
        f"concurrency {', '.join(map(str, options.concurrency))}; HTTP client {options.client}, "
        f"event loop {loop_name}, pymongo {pymongo.version}",
    )
    status = 0
    with workspace(options.keep_data, console) as workdir, runner:
        database = EmbeddedDatabase(workdir / "database")
        server: MedrecServer | None = None
        try:
            started = time.perf_counter()
            uri = database.start()
            version = runner.run(database_version(uri))
            print_line(
                console,
                f"database: embedded SecantusDB {version} at {uri} (pid {database.pid}), "
                f"started in {time.perf_counter() - started:.1f} s",
            )
            server = MedrecServer(uri, f"bench_{uuid.uuid4().hex[:10]}", workdir)
            server.start()
            print_line(console, f"medrec:   {server.base} (pid {server.pid})")
            results, exports = runner.run(benchmark(options, server, database, console, workdir))
            console.rule("results")
            console.print(results_table(results))
            console.rule("summary")
            for line in ratio_lines(results):
                print_line(console, line)
            print_line(console, export_ratio_line(exports))
            print_line(
                console,
                "(resources/s: resources stored ÷ wall time of the run; per bundle: wall time of "
                "one POST as the client sees it, or of one bundle's insert_many calls; CPU = "
                "utime+stime of the process over the run ÷ resources, 10 ms ticks; medrec, the "
                f"database and this benchmark share {available_cpus()} CPUs)",
            )
        except (KeyboardInterrupt, asyncio.CancelledError):
            console.print("interrupted")
            status = 130
        except Exception as exc:
            console.print(f"benchmark failed: {type(exc).__name__}: {exc}", markup=False)
            status = 1
        finally:
            if server is not None:
                code = server.stop()
                if code not in (0, None, -signal.SIGTERM):
                    console.print(f"medrec exited with code {code}; log tail:\n{server.tail()}")
            database.stop()
    return status


if __name__ == "__main__":
    sys.exit(main())
