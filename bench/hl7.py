"""HL7 v2 benchmark: ORU^R01 messages (10 OBX each) over MLLP to ``medrec serve`` with
acknowledgement after commit, against writing the same FHIR resources directly through the
repository (the bundle processor's transaction) in this process.

    uv run python bench/hl7.py [--messages 300] [--concurrency 1 4]

Starts its own embedded database (SecantusDB, in a temp dir) and ``medrec serve`` with the MLLP
listener enabled (``MEDREC_HL7_MLLP_ENABLED``), as ``crud.py`` does. Each run sends
``--messages`` distinct messages (50 patients, matched by PID-3) over ``--concurrency``
connections, one message at a time per connection, each waiting for its ACK (AA, sent once
the message's transaction committed). The baseline maps the same messages to the same
transaction entries (Patient conditional create, Encounter, ServiceRequest, DiagnosticReport,
10 Observations, Specimen, Binary, Provenance) ahead of time and runs them through
``Processor.transaction`` on a fresh database at the same concurrencies: the FHIR write alone,
with no MLLP, parsing, mapping or repeat check. It only reports: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shlex
import signal
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

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
    workspace,
)

from fhir_server.bulk.load import open_repository  # noqa: E402
from fhir_server.bundles.entries import Entry  # noqa: E402
from fhir_server.bundles.process import Processor  # noqa: E402
from fhir_server.storage.embedded import EmbeddedDatabase, free_port  # noqa: E402
from fhir_server.storage.mongo import connect  # noqa: E402
from ingestion.hl7v2.ack import ack_code  # noqa: E402
from ingestion.hl7v2.mllp import Sender  # noqa: E402
from ingestion.hl7v2.oru import map_oru  # noqa: E402
from ingestion.hl7v2.parse import parse  # noqa: E402
from ingestion.hl7v2.provenance import add_provenance  # noqa: E402
from ingestion.hl7v2.receive import Receiver  # noqa: E402
from ingestion.hl7v2.store import MessageStore  # noqa: E402
from tests.ingestion.hl7v2.corpus import oru  # noqa: E402

HOST = "127.0.0.1"
PATIENTS = 50
OBSERVATIONS = 10
WARM_UP = 20
TARGET_RATIO = 0.5  # of the direct rate (reported, never asserted)


@dataclass
class Run:
    target: str  # mllp | direct
    concurrency: int
    messages: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0

    def percentile(self, q: int) -> float:
        ordered = sorted(self.latencies)
        return statistics.quantiles(ordered, n=100)[q - 1] if len(ordered) > 1 else 0.0


def messages(prefix: str, count: int) -> list[bytes]:
    return [
        oru(
            f"{prefix}{n:06d}",
            mrn=f"MRN-B{n % PATIENTS}",
            order=f"{prefix}{n}",
            observations=OBSERVATIONS,
        ).encode()
        for n in range(count)
    ]


async def _closed_loop(
    items: list[bytes], concurrency: int, send: Callable[[int, bytes], Awaitable[None]], run: Run
) -> Run:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)

    async def worker(number: int) -> None:
        while not queue.empty():
            item = queue.get_nowait()
            started = time.perf_counter()
            await send(number, item)
            run.latencies.append(time.perf_counter() - started)
            run.messages += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    run.seconds = time.perf_counter() - started
    return run


async def mllp_run(port: int, items: list[bytes], concurrency: int) -> Run:
    senders = [await Sender.connect(HOST, port) for _ in range(concurrency)]

    async def send(number: int, item: bytes) -> None:
        code, _ = ack_code(await senders[number].send(item))
        if code != "AA":
            raise RuntimeError(f"expected AA, got {code}")

    try:
        return await _closed_loop(items, concurrency, send, Run("mllp", concurrency))
    finally:
        for sender in senders:
            await sender.close()


async def direct_run(uri: str, database: str, items: list[bytes], concurrency: int) -> Run:
    client = connect(uri)
    try:
        repository, codes = await open_repository(client[database], 64)
        receiver = Receiver(repository, codes, MessageStore(client[database]), ZoneInfo("UTC"))
        prepared: dict[bytes, list[Entry]] = {}
        for item in items:  # ahead of time: the baseline is the FHIR write alone
            draft = await map_oru(parse(item), receiver.context)
            add_provenance(draft, parse(item))
            prepared[item] = draft.entries
        processor = Processor(repository, codes)

        async def send(number: int, item: bytes) -> None:
            await processor.transaction(prepared[item])

        return await _closed_loop(items, concurrency, send, Run("direct", concurrency))
    finally:
        await client.close()


async def benchmark(
    options: argparse.Namespace, uri: str, port: int, console: Console
) -> list[Run]:
    runs: list[Run] = []
    await mllp_run(port, messages("WARM", WARM_UP), 1)
    await direct_run(uri, "bench_hl7_direct", messages("WARM", WARM_UP), 1)
    for concurrency in options.concurrency:
        prefix = f"C{concurrency}-"
        items = messages(prefix, options.messages)
        for run in (
            await mllp_run(port, items, concurrency),
            await direct_run(uri, "bench_hl7_direct", items, concurrency),
        ):
            console.print(f"  {run.target:6} x{run.concurrency}: {run.rate:7.1f} msgs/s")
            runs.append(run)
    return runs


def results_table(runs: list[Run]) -> Table:
    table = Table("target", "connections", "messages", "msgs/s", "p50 ms", "p95 ms", "ratio")
    direct = {r.concurrency: r.rate for r in runs if r.target == "direct"}
    for run in runs:
        ratio = ""
        if run.target == "mllp" and direct.get(run.concurrency):
            value = run.rate / direct[run.concurrency]
            verdict = "meets" if value >= TARGET_RATIO else "below"
            ratio = f"{value:.2f} ({verdict} the {TARGET_RATIO:.0%} target)"
        table.add_row(
            run.target,
            str(run.concurrency),
            str(run.messages),
            f"{run.rate:.1f}",
            f"{run.percentile(50) * 1000:.1f}",
            f"{run.percentile(95) * 1000:.1f}",
            ratio,
        )
    return table


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=300, help="messages per run")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--keep-data", action="store_true", help="keep the temp dir")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, crud._interrupt)
    console = Console(width=None if sys.stdout.isatty() else 200)
    runner, loop_name = event_loop_runner()
    console.rule("medrec HL7 v2 benchmark")
    console.print(f"command:  {shlex.join([Path(sys.executable).name, *sys.argv])}", markup=False)
    console.print(
        f"machine:  {available_cpus()} CPUs (nproc), {cpu_model()}, {platform.platform()}, "
        f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}",
        markup=False,
    )
    console.print(
        f"data:     {options.messages} ORU^R01 per run ({OBSERVATIONS} OBX, {PATIENTS} patients), "
        f"connections {', '.join(map(str, options.concurrency))}, event loop {loop_name}",
        markup=False,
    )
    status = 0
    with workspace(options.keep_data, console) as workdir, runner:
        database = EmbeddedDatabase(workdir / "database")
        server: MedrecServer | None = None
        try:
            uri = database.start()
            version = runner.run(database_version(uri))
            console.print(f"database: embedded SecantusDB {version}", markup=False)
            port = free_port(HOST)
            os.environ.update(MEDREC_HL7_MLLP_ENABLED="true", MEDREC_HL7_PORT=str(port))
            server = MedrecServer(uri, f"bench_hl7_{uuid.uuid4().hex[:8]}", workdir)
            server.start()
            console.print(f"medrec:   {server.base} (pid {server.pid}), MLLP on {HOST}:{port}")
            runs = runner.run(benchmark(options, uri, port, console))
            console.rule("results")
            console.print(results_table(runs))
            console.print(
                "(msgs/s: messages ÷ wall time of the run; p50/p95: one message sent until its "
                "ACK, or one transaction for the direct baseline; medrec, the database and this "
                f"benchmark share {available_cpus()} CPUs)"
            )
        except (KeyboardInterrupt, asyncio.CancelledError):
            console.print("interrupted")
            status = 130
        finally:
            if server is not None:
                server.stop()
            database.stop()
    return status


if __name__ == "__main__":
    sys.exit(main())
