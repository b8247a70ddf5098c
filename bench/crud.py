"""CRUD benchmark: medrec over HTTP against the raw MongoDB driver, on the same database server.

    uv run python bench/crud.py [--seconds N | --ops N] [--concurrency 8,32] [--keep-data]

Starts its own embedded database (SecantusDB, in a temp dir) and ``medrec serve`` on a free
port, then drives closed-loop create / read / update phases at each concurrency, through
medrec's FHIR REST API and, as the baseline, with pymongo's AsyncMongoClient doing the same
database work the repository does (in ABBA order: medrec, raw, raw, medrec halves). Prints
throughput, latency percentiles and CPU per operation (medrec process, database process, this
benchmark process), the medrec ÷ raw ratios and the targets. It only reports: nothing is
asserted, and a missed target does not change the exit status.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import random
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import orjson
import pymongo
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError
from rich.console import Console
from rich.table import Table

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # `python bench/crud.py` without the project installed
    sys.path.insert(0, str(REPO_ROOT))

from fhir_server.storage.collections import Collections  # noqa: E402
from fhir_server.storage.embedded import EmbeddedDatabase, free_port  # noqa: E402
from fhir_server.storage.mongo import connect  # noqa: E402
from fhir_server.storage.versions import instant, utc_now_ms  # noqa: E402

Document = dict[str, Any]
Op = Callable[[], Awaitable[None]]

HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
FHIR_JSON = "application/fhir+json"
WRITE_ATTEMPTS = 20  # as the repository: retries of an update that lost a race
OPS = ("create", "read", "update")
# Each phase is measured in two halves, medrec and raw in the order A B B A.
ABBA = (("medrec", 0), ("raw", 0), ("raw", 1), ("medrec", 1))

# Targets (reported, never asserted).
TARGET_CPU_MS = {"create": 2.0, "read": 1.0}  # medrec server CPU per operation
TARGET_CREATE_RATIO = 0.40  # medrec create ops/s ÷ raw driver create ops/s


# -- CPU accounting ----------------------------------------------------------------------------


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of one process (all its threads), from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / CLK_TCK


def machine_busy_seconds() -> float:
    """CPU time spent busy on all CPUs since boot (user+nice+system+irq+softirq), /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in fields[1:8])
    return (user + nice + system + irq + softirq) / CLK_TCK


@dataclass(frozen=True, slots=True)
class CpuSnapshot:
    server: float | None  # medrec process; None for the raw driver phases
    database: float
    client: float  # this process (the HTTP client, or the raw driver)
    machine: float  # every process on the machine

    @staticmethod
    def take(server_pid: int | None, database_pid: int) -> CpuSnapshot:
        return CpuSnapshot(
            process_cpu_seconds(server_pid) if server_pid is not None else None,
            process_cpu_seconds(database_pid),
            time.process_time(),
            machine_busy_seconds(),
        )


# -- a realistic ~1 KB Patient -----------------------------------------------------------------

GIVEN = ("Anna", "Marta", "Jonas", "Pieter", "Sofia", "Lucas", "Eva", "Noah", "Mila", "Daan")
FAMILY = ("Jansen", "de Vries", "van den Berg", "Bakker", "Visser", "Smit", "Meijer", "Mulder")
STREETS = ("Kerkstraat", "Dorpsstraat", "Molenweg", "Stationsweg", "Schoolstraat", "Julianalaan")
CITIES = (
    ("Utrecht", "3511"),
    ("Amsterdam", "1012"),
    ("Rotterdam", "3011"),
    ("Groningen", "9711"),
)


def new_patient(rng: random.Random) -> Document:
    """A Patient as an EHR would send it: identifiers, name, telecom, address, contact, GP."""
    given, family = rng.choice(GIVEN), rng.choice(FAMILY)
    city, postcode = rng.choice(CITIES)
    mrn = f"MRN{rng.randrange(10**8):08d}"
    return {
        "resourceType": "Patient",
        "text": {
            "status": "generated",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{given} {family}, {mrn}</div>',
        },
        "identifier": [
            {
                "use": "usual",
                "type": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}
                    ]
                },
                "system": "urn:oid:2.16.840.1.113883.2.4.3.11.999.7",
                "value": mrn,
            },
            {
                "use": "official",
                "system": "http://fhir.nl/fhir/NamingSystem/bsn",
                "value": f"{rng.randrange(10**9):09d}",
            },
        ],
        "active": True,
        "name": [
            {"use": "official", "family": family, "given": [given, rng.choice(GIVEN)]},
            {"use": "usual", "given": [given]},
        ],
        "telecom": [
            {"system": "phone", "value": f"+31 6 {rng.randrange(10**8):08d}", "use": "mobile"},
            {
                "system": "email",
                "value": f"{given.lower()}.{rng.randrange(10**4)}@example.org",
                "use": "home",
            },
        ],
        "gender": rng.choice(("female", "male", "other", "unknown")),
        "birthDate": f"{rng.randrange(1930, 2024)}-{rng.randrange(1, 13):02d}-"
        f"{rng.randrange(1, 29):02d}",
        "address": [
            {
                "use": "home",
                "type": "both",
                "line": [f"{rng.choice(STREETS)} {rng.randrange(1, 300)}"],
                "city": city,
                "postalCode": f"{postcode} {rng.choice('ABCDEFGH')}{rng.choice('KLMNPRST')}",
                "country": "NL",
            }
        ],
        "maritalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus",
                    "code": "M",
                    "display": "Married",
                }
            ]
        },
        "contact": [
            {
                "relationship": [
                    {
                        "coding": [
                            {"system": "http://terminology.hl7.org/CodeSystem/v2-0131", "code": "N"}
                        ]
                    }
                ],
                "name": {"family": rng.choice(FAMILY), "given": [rng.choice(GIVEN)]},
                "telecom": [{"system": "phone", "value": f"+31 20 {rng.randrange(10**7):07d}"}],
            }
        ],
        "communication": [
            {
                "language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "nl-NL"}]},
                "preferred": True,
            }
        ],
        "generalPractitioner": [{"reference": "Practitioner/gp-0042", "display": "Dr. H. de Wit"}],
        "managingOrganization": {"reference": "Organization/umc-utrecht"},
    }


# -- HTTP clients ------------------------------------------------------------------------------


class HttpError(Exception):
    pass


class Http(Protocol):
    async def request(self, method: str, path: str, body: bytes | None = None) -> bytes: ...

    async def close(self) -> None: ...


class AiohttpClient:
    def __init__(self, base: str, concurrency: int) -> None:
        import aiohttp

        self._base = base
        connector = aiohttp.TCPConnector(
            limit=concurrency, limit_per_host=concurrency, keepalive_timeout=60
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=60),
            headers={"Accept": FHIR_JSON},
            auto_decompress=False,
        )
        self._write_headers = {"Content-Type": FHIR_JSON}

    async def request(self, method: str, path: str, body: bytes | None = None) -> bytes:
        headers = self._write_headers if body is not None else None
        async with self._session.request(
            method, self._base + path, data=body, headers=headers
        ) as response:
            data = await response.read()
            if response.status >= 300:
                raise HttpError(f"{method} {path}: HTTP {response.status} {data[:200]!r}")
            return data

    async def close(self) -> None:
        await self._session.close()


class HttpxClient:
    def __init__(self, base: str, concurrency: int) -> None:
        self._client = httpx.AsyncClient(
            base_url=base,
            limits=httpx.Limits(
                max_connections=concurrency,
                max_keepalive_connections=concurrency,
                keepalive_expiry=60,
            ),
            timeout=60,
            headers={"Accept": FHIR_JSON},
        )
        self._write_headers = {"Content-Type": FHIR_JSON}

    async def request(self, method: str, path: str, body: bytes | None = None) -> bytes:
        headers = self._write_headers if body is not None else None
        response = await self._client.request(method, path, content=body, headers=headers)
        if response.status_code >= 300:
            raise HttpError(
                f"{method} {path}: HTTP {response.status_code} {response.content[:200]!r}"
            )
        return response.content

    async def close(self) -> None:
        await self._client.aclose()


def pick_client(choice: str) -> str:
    if choice != "auto":
        return choice
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        return "httpx"
    return "aiohttp"


def make_http(kind: str, base: str, concurrency: int) -> Http:
    return AiohttpClient(base, concurrency) if kind == "aiohttp" else HttpxClient(base, concurrency)


# -- the workloads -----------------------------------------------------------------------------


class MedrecWorkload:
    """FHIR REST: POST a new Patient, GET a known one, PUT a known one with its current body."""

    def __init__(self, http: Http, rng: random.Random, bodies: dict[str, bytes]) -> None:
        self.http = http
        self.rng = rng
        self.bodies = bodies  # id -> current body, shared across concurrency levels
        self.ids = list(bodies)

    async def create(self) -> None:
        body = await self.http.request("POST", "/Patient", orjson.dumps(new_patient(self.rng)))
        rid = orjson.loads(body)["id"]
        self.bodies[rid] = body
        self.ids.append(rid)

    async def read(self) -> None:
        rid = self.rng.choice(self.ids)
        self.bodies[rid] = await self.http.request("GET", f"/Patient/{rid}")

    async def update(self) -> None:
        rid = self.rng.choice(self.ids)
        self.bodies[rid] = await self.http.request("PUT", f"/Patient/{rid}", self.bodies[rid])


class RawWorkload:
    """The database work of Repository.create / read / update, straight through the driver."""

    def __init__(
        self,
        current: AsyncCollection[Document],
        history: AsyncCollection[Document],
        rng: random.Random,
        ids: list[str],
    ) -> None:
        self.current = current
        self.history = history
        self.rng = rng
        self.ids = ids

    async def create(self) -> None:
        rid = str(uuid.uuid4())
        now = utc_now_ms()
        patient = new_patient(self.rng)
        res: Document = {
            "resourceType": "Patient",
            "id": rid,
            "meta": {"versionId": "1", "lastUpdated": instant(now)},
        }
        res.update((k, v) for k, v in patient.items() if k not in res)
        await self.current.insert_one({"_id": rid, "v": 1, "ts": now, "res": res, "comp": [rid]})
        self.ids.append(rid)

    async def read(self) -> None:
        rid = self.rng.choice(self.ids)
        if await self.current.find_one({"_id": rid}, {"comp": 0}) is None:
            raise LookupError(f"Patient/{rid} not found")

    async def update(self) -> None:
        """Read the current version, archive it in <Type>_history, replace it if unchanged."""
        rid = self.rng.choice(self.ids)
        for _ in range(WRITE_ATTEMPTS):
            current = await self.current.find_one({"_id": rid})
            if current is None:
                raise LookupError(f"Patient/{rid} not found")
            now = utc_now_ms(after=current["ts"])
            version = current["v"] + 1
            res = dict(current["res"])
            res["meta"] = {**res["meta"], "versionId": str(version), "lastUpdated": instant(now)}
            new = {"_id": rid, "v": version, "ts": now, "res": res, "comp": current["comp"]}
            archived = {k: v for k, v in current.items() if k != "_id"}
            archived["rid"] = rid
            archived["end"] = now
            with contextlib.suppress(DuplicateKeyError):
                await self.history.insert_one(archived)
            result = await self.current.replace_one({"_id": rid, "v": current["v"]}, new)
            if result.matched_count == 1:
                return
        raise RuntimeError(f"Patient/{rid}: lost the race {WRITE_ATTEMPTS} times")


# -- the closed-loop driver --------------------------------------------------------------------


@dataclass(slots=True)
class PhaseResult:
    target: str  # "medrec" or "raw"
    op: str
    concurrency: int
    ops: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    server_cpu_s: float | None
    database_cpu_s: float
    client_cpu_s: float
    other_cpu_s: float  # everything else on the machine: noise
    error_samples: list[str] = field(default_factory=list)
    segments: list[float] = field(default_factory=list)  # ops/s of each measured segment

    @property
    def ops_per_s(self) -> float:
        return self.ops / self.seconds if self.seconds > 0 else 0.0

    def cores(self, cpu_s: float | None) -> float | None:
        """CPUs kept busy on average over the measured window."""
        return None if cpu_s is None or self.seconds <= 0 else cpu_s / self.seconds

    def percentile(self, p: float) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    def per_op_ms(self, cpu_s: float | None) -> float | None:
        if cpu_s is None or self.ops == 0:
            return None
        return cpu_s * 1000 / self.ops


@dataclass(slots=True)
class _Window:
    measuring: bool = False
    stop: bool = False
    remaining: int | None = None  # fixed-count mode: operations still to start
    ops: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)


async def run_phase(
    target: str,
    op_name: str,
    op: Op,
    concurrency: int,
    *,
    seconds: float,
    count: int | None,
    warmup: float,
    server_pid: int | None,
    database_pid: int,
) -> PhaseResult:
    """``concurrency`` workers, each issuing ``op`` back to back. Warm up for ``warmup`` s, then
    measure for ``seconds`` (or until ``count`` operations completed)."""
    window = _Window()

    async def worker() -> None:
        while not window.stop:
            counted = False
            if window.remaining is not None:  # fixed-count mode: take a ticket
                if window.remaining <= 0:
                    return
                window.remaining -= 1
                counted = True
            start = time.perf_counter()
            try:
                await op()
                ok = True
            except Exception as exc:
                ok = False
                if len(window.error_samples) < 5:
                    window.error_samples.append(f"{type(exc).__name__}: {exc}"[:300])
            elapsed_ms = (time.perf_counter() - start) * 1000
            # Timed mode: what completes inside the window. Fixed count: the ticketed operations.
            if counted or (window.remaining is None and window.measuring):
                if ok:
                    window.ops += 1
                    window.latencies_ms.append(elapsed_ms)
                else:
                    window.errors += 1
            if not ok:
                await asyncio.sleep(0.01)  # a failing server: do not spin

    tasks: list[asyncio.Task[None]] = []
    try:
        tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
        await asyncio.sleep(warmup)
        before = CpuSnapshot.take(server_pid, database_pid)
        t0 = time.perf_counter()
        if count is None:
            window.measuring = True
            await asyncio.sleep(seconds)
            window.measuring = False
            t1 = time.perf_counter()
            after = CpuSnapshot.take(server_pid, database_pid)
            window.stop = True
            await asyncio.gather(*tasks)
        else:
            # Workers still in a warm-up operation finish it uncounted, then start counted ones.
            window.remaining = count
            await asyncio.gather(*tasks)
            t1 = time.perf_counter()
            after = CpuSnapshot.take(server_pid, database_pid)
    finally:
        window.stop = True
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    server_cpu = (
        after.server - before.server
        if after.server is not None and before.server is not None
        else None
    )
    database_cpu = after.database - before.database
    client_cpu = after.client - before.client
    other_cpu = (after.machine - before.machine) - database_cpu - client_cpu - (server_cpu or 0)
    return PhaseResult(
        target=target,
        op=op_name,
        concurrency=concurrency,
        ops=window.ops,
        errors=window.errors,
        seconds=t1 - t0,
        latencies_ms=window.latencies_ms,
        server_cpu_s=server_cpu,
        database_cpu_s=database_cpu,
        client_cpu_s=client_cpu,
        other_cpu_s=max(0.0, other_cpu),
        error_samples=window.error_samples,
        segments=[window.ops / (t1 - t0)] if t1 > t0 else [],
    )


def merge(parts: list[PhaseResult]) -> PhaseResult:
    """One phase measured in several segments, as if measured at once."""
    first = parts[0]
    servers = [p.server_cpu_s for p in parts if p.server_cpu_s is not None]
    return PhaseResult(
        target=first.target,
        op=first.op,
        concurrency=first.concurrency,
        ops=sum(p.ops for p in parts),
        errors=sum(p.errors for p in parts),
        seconds=sum(p.seconds for p in parts),
        latencies_ms=[ms for p in parts for ms in p.latencies_ms],
        server_cpu_s=sum(servers) if servers else None,
        database_cpu_s=sum(p.database_cpu_s for p in parts),
        client_cpu_s=sum(p.client_cpu_s for p in parts),
        other_cpu_s=sum(p.other_cpu_s for p in parts),
        error_samples=[e for p in parts for e in p.error_samples][:5],
        segments=[s for p in parts for s in p.segments],
    )


# -- processes ---------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """Linux: have the kernel stop the medrec server if this benchmark is killed (kill -9)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class MedrecServer:
    def __init__(self, mongodb_uri: str, database: str, workdir: Path, auth: str = "off") -> None:
        """``auth``: off by default, these benchmarks measure storage and search against
        raw MongoDB (bench/auth.py measures what authorization and the audit trail add)."""
        self.mongodb_uri = mongodb_uri
        self.auth = auth
        self.database = database
        self.workdir = workdir
        self.port = free_port(HOST)
        self.log_path = workdir / "medrec.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}/fhir"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 180.0) -> None:
        env = {
            **os.environ,
            "MEDREC_MONGODB_URI": self.mongodb_uri,
            "MEDREC_DATABASE": self.database,
            "MEDREC_LOG_LEVEL": "warning",
            "MEDREC_ACCESS_LOG": "false",
            "MEDREC_AUTH": self.auth,
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
            ),
        }
        command = [
            sys.executable, "-m", "fhir_server.cli", "serve",
            "--host", HOST, "--port", str(self.port),
            "--data-dir", str(self.workdir / "medrec-data"),
        ]  # fmt: skip
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C here must not stop it before we do
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"medrec serve exited with code {self.process.returncode}:\n{self.tail()}"
                    )
                try:
                    if client.get(f"{self.base}/metadata").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        raise RuntimeError(f"medrec serve did not answer within {timeout:.0f} s:\n{self.tail()}")

    def tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def stop(self, timeout: float = 20.0) -> int | None:
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode


# -- reporting ---------------------------------------------------------------------------------


def _ms(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 0


def phase_table(results: list[PhaseResult]) -> Table:
    table = Table(title="Closed-loop phases", title_justify="left")
    for name in ("target", "op", "conc", "ops", "err", "ops/s", "p50 ms", "p95 ms", "p99 ms"):
        table.add_column(name, justify="left" if name in ("target", "op") else "right")
    table.add_column("medrec\nCPU ms/op", justify="right")
    table.add_column("db\nCPU ms/op", justify="right")
    table.add_column("bench\nCPU ms/op", justify="right")
    table.add_column("busy cores\nmedrec/db/bench", justify="right")
    table.add_column("other\nprocs", justify="right")
    for r in results:
        table.add_row(
            r.target,
            r.op,
            str(r.concurrency),
            str(r.ops),
            str(r.errors) if r.errors == 0 else f"[red]{r.errors}[/red]",
            f"{r.ops_per_s:.0f}",
            _ms(r.percentile(50)),
            _ms(r.percentile(95)),
            _ms(r.percentile(99)),
            _ms(r.per_op_ms(r.server_cpu_s)),
            _ms(r.per_op_ms(r.database_cpu_s)),
            _ms(r.per_op_ms(r.client_cpu_s)),
            busy_cores(r),
            _ms(r.cores(r.other_cpu_s)),
        )
    return table


def busy_cores(r: PhaseResult) -> str:
    return "/".join(
        _ms(r.cores(cpu), 2) for cpu in (r.server_cpu_s, r.database_cpu_s, r.client_cpu_s)
    )


def _verdict(ok: bool) -> str:
    return "[green]ok[/green]" if ok else "[red]MISS[/red]"


def ratio_table(results: list[PhaseResult]) -> tuple[Table, list[str]]:
    """medrec ÷ raw per concurrency and op, with the targets. Returns plain lines too."""
    by_key = {(r.target, r.op, r.concurrency): r for r in results}
    table = Table(title="medrec vs raw driver, and targets", title_justify="left")
    for name in ("op", "conc", "medrec ops/s", "raw ops/s", "medrec ÷ raw", "throughput target"):
        table.add_column(name, justify="left" if name in ("op", "throughput target") else "right")
    table.add_column("medrec CPU ms/op", justify="right")
    table.add_column("CPU target", justify="left")
    lines: list[str] = []
    for concurrency in sorted({r.concurrency for r in results}):
        for op in OPS:
            medrec = by_key.get(("medrec", op, concurrency))
            raw = by_key.get(("raw", op, concurrency))
            if medrec is None:
                continue
            ratio = medrec.ops_per_s / raw.ops_per_s if raw and raw.ops_per_s > 0 else None
            throughput = "-"
            if op == "create" and ratio is not None:
                throughput = f"≥ {TARGET_CREATE_RATIO:.0%}: " + _verdict(
                    ratio >= TARGET_CREATE_RATIO
                )
            cpu = medrec.per_op_ms(medrec.server_cpu_s)
            cpu_target = "-"
            if op in TARGET_CPU_MS and cpu is not None:
                cpu_target = f"≤ {TARGET_CPU_MS[op]:.1f} ms: " + _verdict(cpu <= TARGET_CPU_MS[op])
            table.add_row(
                op,
                str(concurrency),
                f"{medrec.ops_per_s:.0f}",
                f"{raw.ops_per_s:.0f}" if raw else "-",
                "-" if ratio is None else f"{ratio:.1%}",
                throughput,
                _ms(cpu),
                cpu_target,
            )
            line = f"ratio {op} c={concurrency}: medrec/raw = " + (
                "n/a" if ratio is None else f"{ratio:.3f}"
            )
            if op == "create" and ratio is not None:
                line += f" (target ≥ {TARGET_CREATE_RATIO:.2f}: "
                line += ("ok" if ratio >= TARGET_CREATE_RATIO else "MISS") + ")"
            if op in TARGET_CPU_MS and cpu is not None:
                line += f"; medrec CPU {cpu:.2f} ms/op (target ≤ {TARGET_CPU_MS[op]:.1f}: "
                line += ("ok" if cpu <= TARGET_CPU_MS[op] else "MISS") + ")"
            lines.append(line)
    return table, lines


def summary_line(r: PhaseResult) -> str:
    halves = "/".join(f"{v:.0f}" for v in r.segments)
    return (
        f"{r.target} {r.op} c={r.concurrency}: {r.ops_per_s:.1f} ops/s (halves {halves}), "
        f"p50/p95/p99 {_ms(r.percentile(50))}/{_ms(r.percentile(95))}/"
        f"{_ms(r.percentile(99))} ms; CPU ms/op medrec {_ms(r.per_op_ms(r.server_cpu_s), 3)}, "
        f"db {_ms(r.per_op_ms(r.database_cpu_s), 3)}, "
        f"bench {_ms(r.per_op_ms(r.client_cpu_s), 3)}; busy cores medrec/db/bench "
        f"{busy_cores(r)}, other processes {_ms(r.cores(r.other_cpu_s))}; "
        f"n={r.ops}, errors={r.errors}, {r.seconds:.2f} s"
    )


# -- main --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Options:
    seconds: float
    count: int | None
    warmup: float
    concurrency: list[int]
    client: str
    keep_data: bool
    seed: int


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        description="medrec CRUD benchmark (HTTP) against the raw MongoDB driver baseline."
    )
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="measured duration per phase (default 10)"
    )
    parser.add_argument(
        "--ops", type=int, default=None, help="measure a fixed count per phase instead of a time"
    )
    parser.add_argument(
        "--warmup", type=float, default=1.0, help="warm-up seconds before each phase (default 1)"
    )
    parser.add_argument(
        "--concurrency", default="8,32", help="comma-separated concurrency levels (default 8,32)"
    )
    parser.add_argument(
        "--client",
        choices=("auto", "aiohttp", "httpx"),
        default="auto",
        help="HTTP client (auto: aiohttp if installed, else httpx)",
    )
    parser.add_argument(
        "--keep-data", action="store_true", help="keep the temp dir (database files, server log)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed for the generated data")
    args = parser.parse_args(argv)
    try:
        levels = [int(part) for part in args.concurrency.split(",") if part.strip()]
    except ValueError:
        parser.error("--concurrency takes comma-separated integers, e.g. 8,32")
    if not levels or min(levels) < 1:
        parser.error("--concurrency takes positive integers")
    if args.seconds <= 0 or args.warmup < 0:
        parser.error("--seconds must be positive, --warmup not negative")
    if args.ops is not None and args.ops < 2:
        parser.error("--ops must be at least 2 (each phase is measured in two halves)")
    return Options(
        args.seconds,
        args.ops,
        args.warmup,
        levels,
        pick_client(args.client),
        args.keep_data,
        args.seed,
    )


def event_loop_runner() -> tuple[asyncio.Runner, str]:
    try:
        import uvloop
    except ImportError:
        return asyncio.Runner(), "asyncio"
    return asyncio.Runner(loop_factory=uvloop.new_event_loop), "uvloop"


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


async def benchmark(
    options: Options, server: MedrecServer, database: EmbeddedDatabase, console: Console
) -> list[PhaseResult]:
    """Per concurrency and operation: medrec and raw in ABBA order (half the time each), so
    that the database slowing down as it grows weighs on both alike."""
    assert database.pid is not None
    database_pid = database.pid
    rng = random.Random(options.seed)
    results: list[PhaseResult] = []
    half_seconds = options.seconds / 2
    halves = (
        (None, None)
        if options.count is None
        else (options.count // 2, options.count - options.count // 2)
    )

    def report(result: PhaseResult) -> None:
        results.append(result)
        console.print(summary_line(result), highlight=False, soft_wrap=True)
        for sample in result.error_samples:
            console.print(f"    error: {sample}", highlight=False, markup=False)

    # SIGTERM while the loop runs: cancel, so that clients close before the processes stop.
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    raw_client: AsyncMongoClient[Document] = connect(database.uri, app_name="medrec-bench-raw")
    try:
        raw_db = raw_client[f"{server.database}_raw"]
        await Collections(raw_db).ensure_indexes(["Patient"])  # the indexes medrec creates
        bodies: dict[str, bytes] = {}
        raw_ids: list[str] = []
        for concurrency in options.concurrency:
            http = make_http(options.client, server.base, concurrency)
            try:
                medrec = MedrecWorkload(http, rng, bodies)
                raw = RawWorkload(raw_db["Patient"], raw_db["Patient_history"], rng, raw_ids)
                workloads: dict[str, MedrecWorkload | RawWorkload] = {
                    "medrec": medrec,
                    "raw": raw,
                }
                for name in OPS:
                    parts: dict[str, list[PhaseResult]] = {"medrec": [], "raw": []}
                    for target, half in ABBA:
                        workload = workloads[target]
                        if name != "create" and not workload.ids:
                            continue  # nothing was created to read or update
                        parts[target].append(
                            await run_phase(
                                target,
                                name,
                                getattr(workload, name),
                                concurrency,
                                seconds=half_seconds,
                                count=halves[half],
                                warmup=options.warmup,
                                server_pid=server.pid if target == "medrec" else None,
                                database_pid=database_pid,
                            )
                        )
                    for target in ("medrec", "raw"):
                        if parts[target]:
                            report(merge(parts[target]))
                        else:
                            console.print(f"{target} {name} c={concurrency}: skipped (no ids)")
            finally:
                await http.close()
    finally:
        await raw_client.close()
        loop.remove_signal_handler(signal.SIGTERM)
        signal.signal(signal.SIGTERM, _interrupt)
    return results


async def database_version(uri: str) -> str:
    client: AsyncMongoClient[Document] = connect(uri, app_name="medrec-bench")
    try:
        info = await client.admin.command("buildInfo")
        return str(info.get("version", "?"))
    finally:
        await client.close()


@contextlib.contextmanager
def workspace(keep: bool, console: Console) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="medrec-bench-"))
    try:
        yield path
    finally:
        if keep:
            console.print(f"kept data and logs in {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # clean up as on Ctrl-C: medrec first, then the db
    console = Console(width=None if sys.stdout.isatty() else 150)
    runner, loop_name = event_loop_runner()
    command = shlex.join([Path(sys.executable).name, *sys.argv])
    sample = orjson.dumps(new_patient(random.Random(0)))
    mode = (
        f"{options.count} ops per phase" if options.count is not None else f"{options.seconds:g} s"
    )
    console.rule("medrec CRUD benchmark")
    console.print(f"command:  {command}", highlight=False, soft_wrap=True)
    console.print(
        f"python:   {sys.executable} ({platform.python_version()})", highlight=False, soft_wrap=True
    )
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    console.print(
        f"machine:  {available_cpus()} CPUs (nproc), {cpu_model()}, {platform.platform()}, "
        f"load average {load}",
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        f"phases:   {mode} measured after {options.warmup:g} s warm-up, concurrency "
        f"{','.join(map(str, options.concurrency))}; HTTP client {options.client}, event loop "
        f"{loop_name}, pymongo {pymongo.version}; Patient body {len(sample)} bytes",
        highlight=False,
        soft_wrap=True,
    )
    status = 0
    with workspace(options.keep_data, console) as workdir, runner:
        database = EmbeddedDatabase(workdir / "database")
        server: MedrecServer | None = None
        try:
            started = time.perf_counter()
            uri = database.start()
            version = runner.run(database_version(uri))
            console.print(
                f"database: embedded SecantusDB {version} at {uri} (pid {database.pid}), "
                f"started in {time.perf_counter() - started:.1f} s",
                highlight=False,
                soft_wrap=True,
            )
            started = time.perf_counter()
            server = MedrecServer(uri, f"bench_{uuid.uuid4().hex[:10]}", workdir)
            server.start()
            console.print(
                f"medrec:   {server.base} (pid {server.pid}, database {server.database}), "
                f"ready in {time.perf_counter() - started:.1f} s",
                highlight=False,
                soft_wrap=True,
            )
            console.print(
                "raw:      pymongo AsyncMongoClient on the same database server; create = "
                "insert_one, read = find_one by _id, update = find_one + insert_one into "
                "Patient_history + replace_one on (_id, v), as Repository.update does; each phase "
                "measured in two halves, ordered medrec, raw, raw, medrec (ABBA)",
                highlight=False,
                soft_wrap=True,
            )
            console.rule("phases")
            coroutine: Coroutine[Any, Any, list[PhaseResult]] = benchmark(
                options, server, database, console
            )
            results = runner.run(coroutine)
            console.rule("results")
            console.print(phase_table(results))
            table, lines = ratio_table(results)
            console.print(table)
            console.rule("summary")
            for result in results:
                console.print(summary_line(result), highlight=False, soft_wrap=True)
            for line in lines:
                console.print(line, highlight=False, soft_wrap=True)
            console.print(
                f"(medrec, the database and this benchmark share {available_cpus()} CPUs; "
                "CPU ms/op = a process's utime+stime over the measured windows ÷ operations; "
                "busy cores = that CPU time ÷ wall time)",
                highlight=False,
                soft_wrap=True,
            )
            noisiest = max((r.cores(r.other_cpu_s) or 0.0 for r in results), default=0.0)
            if noisiest > 0.1:
                console.print(
                    f"note: other processes on this machine kept up to {noisiest:.2f} CPUs busy "
                    "during the phases; the figures are noisier than on a quiet machine",
                    highlight=False,
                    soft_wrap=True,
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
