"""SMART authorization benchmark: token issuance, and what authorization + audit cost a read
and a search.

    uv run python bench/auth.py [--seconds 6] [--concurrency 1,4] [--patients 200]

Starts its own embedded database (SecantusDB, in a temp dir) and runs ``medrec serve`` on it
four times, in the order auth on, off, off, on (ABBA: a steady drift of the machine or of the
database weighs on both alike), all on the same data:

- **on** (the default, ``MEDREC_AUTH=on``): every request carries a real access token, is
  checked by ``smart_auth.enforce`` and writes a hash-chained AuditEvent;
- **off** (``MEDREC_AUTH=off``): the same requests without authorization or audit: the
  baseline.

In the first run it registers a patient user, a public SMART app and a backend service (through
``smart_auth``'s stores, on the same database), loads Patients and Observations with a backend
token, and measures token issuance:

- ``client_credentials``: one POST /auth/token with a ``private_key_jwt`` assertion (RS384,
  signed beforehand, so the figure is the server's);
- ``authorization_code``: the whole flow a browser and an app go through — GET /auth/authorize
  (login page), POST the login form (argon2id password check), POST the consent form (302 with
  the code), POST /auth/token (code + PKCE verifier) — with the latency of each step, so the
  code exchange alone is reported too.

Then in each run: read (GET Patient/{id}) and search (GET Observation?patient={id}&_count=20)
closed loops at each concurrency, with a system token (``system/*.rs``, random patients) and
with a patient token (``patient/*.rs``, the patient's own record: compartment enforcement on
every request). Prints throughput, p50/p95, CPU per request, and the on ÷ off overhead against
the target (≤ 15 %). It only reports: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import os
import platform
import random
import re
import secrets
import shlex
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
from joserfc import jwt
from joserfc.jwk import RSAKey
from rich.console import Console
from rich.table import Table

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from crud import (  # noqa: E402  (also puts the repository root on sys.path)
    MedrecServer,
    PhaseResult,
    _ms,
    available_cpus,
    busy_cores,
    cpu_model,
    database_version,
    event_loop_runner,
    merge,
    run_phase,
    workspace,
)

from fhir_server.config import load_settings  # noqa: E402
from fhir_server.storage.embedded import EmbeddedDatabase  # noqa: E402
from fhir_server.storage.mongo import connect  # noqa: E402
from smart_auth.accounts.clients import ClientStore  # noqa: E402
from smart_auth.accounts.users import UserStore  # noqa: E402

Op = Callable[[], Awaitable[None]]

FHIR_JSON = "application/fhir+json"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
REDIRECT_URI = "http://127.0.0.1:9/bench/callback"
PASSWORD = "bench horse battery staple 42"  # noqa: S105  (a throwaway user in a temp database)
APP_SCOPE = "launch/patient openid fhirUser offline_access patient/*.rs"
BACKEND_SCOPE = "system/*.cruds"
READ_SCOPE = "system/Patient.rs system/Observation.rs"
TARGET_OVERHEAD = 0.15  # auth + audit on: at most 15 % fewer requests/s than off
# auth on, off, off, on: each mode measured in two halves (ABBA).
RUNS = (("on", 0), ("off", 0), ("off", 1), ("on", 1))
FLOW_STEPS = ("authorize", "login", "consent", "token")
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]*)" value="([^"]*)">')


class BenchError(Exception):
    pass


# -- HTTP with a bearer token ------------------------------------------------------------------


class FhirHttp:
    """GETs over one keep-alive pool (aiohttp when installed: about a quarter of httpx's client
    CPU per request, which matters when the benchmark shares 2 cores with the server)."""

    def __init__(self, base: str, concurrency: int, token: str | None) -> None:
        headers = {"Accept": FHIR_JSON}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        self.base = base
        self._aiohttp: Any = None
        self._httpx: httpx.AsyncClient | None = None
        try:
            import aiohttp
        except ImportError:
            self._httpx = httpx.AsyncClient(
                base_url=base,
                headers=headers,
                limits=httpx.Limits(max_connections=concurrency),
                timeout=60,
                trust_env=False,
            )
        else:
            connector = aiohttp.TCPConnector(limit=concurrency, keepalive_timeout=60)
            self._aiohttp = aiohttp.ClientSession(
                connector=connector,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=60),
            )

    async def get(self, path: str) -> bytes:
        if self._httpx is not None:
            response = await self._httpx.get(path)
            status, body = response.status_code, response.content
        else:
            async with self._aiohttp.get(self.base + path) as reply:
                status, body = reply.status, await reply.read()
        if status != 200:
            raise BenchError(f"GET {path}: HTTP {status} {body[:200]!r}")
        return body

    async def close(self) -> None:
        if self._httpx is not None:
            await self._httpx.aclose()
        else:
            await self._aiohttp.close()


# -- registration and data ---------------------------------------------------------------------


@dataclass
class Site:
    """Who is registered, and the data every run reads."""

    patient_ids: list[str]
    patient_user: str
    app_id: str
    backend_id: str
    key: RSAKey


async def register(uri: str, database: str, patient_id: str) -> Site:
    """A patient user (fhirUser Patient/<patient_id>), a public app and a backend service, in
    the stores `medrec users add` / `medrec clients add` use."""
    key = RSAKey.generate_key(2048, parameters={"alg": "RS384", "use": "sig"})
    key.ensure_kid()
    client = connect(uri, app_name="medrec-bench-auth")
    try:
        db = client[database]
        users, clients = UserStore(db, load_settings()), ClientStore(db)
        await users.ensure_indexes()
        await clients.ensure_indexes()
        suffix = uuid.uuid4().hex[:8]
        user, _ = await users.add(f"bench-{suffix}", PASSWORD, "patient", f"Patient/{patient_id}")
        app, _ = await clients.add("Bench app", "public", [REDIRECT_URI], APP_SCOPE)
        jwks = {"keys": [key.as_dict(private=False)]}
        backend, _ = await clients.add(
            "Bench backend", "confidential-asymmetric", (), BACKEND_SCOPE, jwks=jwks
        )
    finally:
        await client.close()
    return Site([patient_id], user.username, app.client_id, backend.client_id, key)


def assertion(site: Site, token_url: str) -> str:
    now = int(time.time())
    claims = {
        "iss": site.backend_id,
        "sub": site.backend_id,
        "aud": token_url,
        "exp": now + 240,
        "iat": now,
        "jti": uuid.uuid4().hex,
    }
    header = {"alg": "RS384", "kid": site.key.kid, "typ": "JWT"}
    return jwt.encode(header, claims, site.key, algorithms=["RS384"])


async def system_token(http: httpx.AsyncClient, site: Site, token_url: str, scope: str) -> str:
    response = await http.post(
        token_url,
        data={
            "grant_type": "client_credentials",
            "scope": scope,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion(site, token_url),
        },
    )
    if response.status_code != 200:
        raise BenchError(f"client_credentials: HTTP {response.status_code} {response.text[:300]}")
    token: str = response.json()["access_token"]
    return token


async def load(
    server: MedrecServer, site: Site, token: str, patients: int, observations: int
) -> None:
    """Patients (the first is the patient user's) with ``observations`` Observations each,
    PUT with client-chosen ids by 8 concurrent workers."""
    rng = random.Random(7)
    site.patient_ids += [f"bench-pat-{n:05d}" for n in range(1, patients)]
    bodies: list[tuple[str, dict[str, Any]]] = []
    for number, pid in enumerate(site.patient_ids):
        bodies.append(
            (
                f"Patient/{pid}",
                {
                    "resourceType": "Patient",
                    "id": pid,
                    "name": [{"family": f"Family{number % 50}", "given": ["Bench"]}],
                    "gender": rng.choice(("female", "male")),
                    "birthDate": f"{rng.randrange(1930, 2020)}-0{rng.randrange(1, 10)}-15",
                },
            )
        )
        for index in range(observations):
            oid = f"{pid}-obs-{index}"
            bodies.append(
                (
                    f"Observation/{oid}",
                    {
                        "resourceType": "Observation",
                        "id": oid,
                        "status": "final",
                        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                        "subject": {"reference": f"Patient/{pid}"},
                        "valueQuantity": {"value": rng.randrange(50, 110), "unit": "/min"},
                    },
                )
            )
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": FHIR_JSON,
        "Accept": FHIR_JSON,
    }
    queue = list(reversed(bodies))
    async with httpx.AsyncClient(base_url=server.base, headers=headers, timeout=60) as http:

        async def worker() -> None:
            while queue:
                path, body = queue.pop()
                response = await http.put(path, content=orjson.dumps(body))
                if response.status_code not in (200, 201):
                    raise BenchError(f"PUT {path}: HTTP {response.status_code} {response.text}")

        await asyncio.gather(*(worker() for _ in range(8)))


# -- the authorization code flow, as a browser and an app --------------------------------------


def hidden_fields(html: str, step: str) -> dict[str, str]:
    for form in html.split("<form")[1:]:
        fields = {unescape(n): unescape(v) for n, v in _HIDDEN.findall(form)}
        if fields.get("medrec_step") == step:
            return fields
    raise BenchError(f"no '{step}' form in the page: {html[:300]}")


@dataclass
class FlowSteps:
    """Latency (ms) of each step of the authorization code flows."""

    ms: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in FLOW_STEPS})

    def p50(self, step: str) -> float | None:
        values = sorted(self.ms[step])
        return values[len(values) // 2] if values else None


class CodeFlow:
    """One full flow per call: a fresh cookie jar, so every flow logs in."""

    def __init__(self, server: MedrecServer, site: Site, concurrency: int) -> None:
        self.root = server.base.removesuffix("/fhir")
        self.base = server.base
        self.site = site
        self.steps = FlowSteps()
        self.browsers: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
        for _ in range(concurrency):
            self.browsers.put_nowait(httpx.AsyncClient(base_url=self.root, timeout=60))

    async def close(self) -> None:
        while not self.browsers.empty():
            await self.browsers.get_nowait().aclose()

    async def _timed(self, step: str, request: Awaitable[httpx.Response]) -> httpx.Response:
        started = time.perf_counter()
        response = await request
        self.steps.ms[step].append((time.perf_counter() - started) * 1000)
        return response

    async def __call__(self) -> None:
        http = await self.browsers.get()
        try:
            http.cookies.clear()
            await self._flow(http)
        finally:
            self.browsers.put_nowait(http)

    async def _flow(self, http: httpx.AsyncClient) -> str:
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        params = {
            "response_type": "code",
            "client_id": self.site.app_id,
            "redirect_uri": REDIRECT_URI,
            "scope": APP_SCOPE,
            "state": secrets.token_hex(8),
            "aud": self.base,
            "code_challenge": challenge.rstrip(b"=").decode(),
            "code_challenge_method": "S256",
        }
        page = await self._timed("authorize", http.get("/auth/authorize", params=params))
        login = hidden_fields(page.text, "login")
        login |= {"username": self.site.patient_user, "password": PASSWORD}
        consent_page = await self._timed("login", http.post("/auth/authorize", data=login))
        consent = hidden_fields(consent_page.text, "consent") | {"decision": "approve"}
        redirect = await self._timed("consent", http.post("/auth/authorize", data=consent))
        if redirect.status_code != 302:
            raise BenchError(f"consent: HTTP {redirect.status_code} {redirect.text[:300]}")
        query = parse_qs(urlsplit(redirect.headers["location"]).query)
        exchange = {
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": REDIRECT_URI,
            "client_id": self.site.app_id,
            "code_verifier": verifier,
        }
        token = await self._timed("token", http.post("/auth/token", data=exchange))
        if token.status_code != 200:
            raise BenchError(f"code exchange: HTTP {token.status_code} {token.text[:300]}")
        access_token: str = token.json()["access_token"]
        return access_token

    async def token(self) -> str:
        """One flow's access token (a patient/*.rs token in the user's own context)."""
        async with httpx.AsyncClient(base_url=self.root, timeout=60) as http:
            return await self._flow(http)


class ClientCredentials:
    """One POST /auth/token per call, with assertions signed ahead of time (the benchmark's
    RS384 signing would otherwise compete with the server for the same 2 cores)."""

    def __init__(self, server: MedrecServer, site: Site, token_url: str, pool: int) -> None:
        self.site = site
        self.token_url = token_url
        self.http = httpx.AsyncClient(timeout=60, trust_env=False)
        self.assertions = [assertion(site, token_url) for _ in range(pool)]
        self.signed_inline = 0

    async def __call__(self) -> None:
        if self.assertions:
            signed = self.assertions.pop()
        else:
            self.signed_inline += 1
            signed = assertion(self.site, self.token_url)
        response = await self.http.post(
            self.token_url,
            data={
                "grant_type": "client_credentials",
                "scope": READ_SCOPE,
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": signed,
            },
        )
        if response.status_code != 200:
            raise BenchError(f"token: HTTP {response.status_code} {response.text[:300]}")

    async def close(self) -> None:
        await self.http.aclose()


# -- read and search ---------------------------------------------------------------------------


def read_search_ops(http: FhirHttp, who: str, site: Site, rng: random.Random) -> dict[str, Op]:
    """GET Patient/{id} and GET Observation?patient={id}: random patients for the system token,
    the patient's own record for the patient token."""

    def patient() -> str:
        return site.patient_ids[0] if who == "patient" else rng.choice(site.patient_ids)

    async def read() -> None:
        await http.get(f"/Patient/{patient()}")

    async def search() -> None:
        await http.get(f"/Observation?patient={patient()}&_count=20")

    return {"read": read, "search": search}


# -- the runs ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Options:
    seconds: float
    warmup: float
    concurrency: list[int]
    patients: int
    observations: int
    keep_data: bool


@dataclass
class Results:
    phases: list[PhaseResult] = field(default_factory=list)
    token_phases: list[PhaseResult] = field(default_factory=list)
    flow_steps: dict[int, FlowSteps] = field(default_factory=dict)
    audit_events: int = 0


async def count_audit_events(uri: str, database: str) -> int:
    client = connect(uri, app_name="medrec-bench-auth")
    try:
        return await client[database]["AuditEvent"].count_documents({})
    finally:
        await client.close()


async def measure_tokens(
    server: MedrecServer,
    site: Site,
    options: Options,
    database_pid: int,
    results: Results,
    print_line: Callable[[str], None],
) -> None:
    token_url = f"{server.base.removesuffix('/fhir')}/auth/token"
    for concurrency in options.concurrency:
        credentials = ClientCredentials(server, site, token_url, pool=int(400 * options.seconds))
        try:
            result = await run_phase(
                "on",
                "client_credentials",
                credentials,
                concurrency,
                seconds=options.seconds,
                count=None,
                warmup=options.warmup,
                server_pid=server.pid,
                database_pid=database_pid,
            )
        finally:
            await credentials.close()
        results.token_phases.append(result)
        print_line(summary_line(result) + f"; signed inline {credentials.signed_inline}")
        flow = CodeFlow(server, site, concurrency)
        try:
            result = await run_phase(
                "on",
                "authorization_code",
                flow,
                concurrency,
                seconds=options.seconds,
                count=None,
                warmup=options.warmup,
                server_pid=server.pid,
                database_pid=database_pid,
            )
        finally:
            await flow.close()
        results.token_phases.append(result)
        results.flow_steps[concurrency] = flow.steps
        steps = ", ".join(f"{s} {_ms(flow.steps.p50(s), 1)}" for s in FLOW_STEPS)
        print_line(summary_line(result) + f"; step p50 ms: {steps} (warm-up included)")


async def one_run(
    mode: str,
    half: int,
    server: MedrecServer,
    site: Site,
    options: Options,
    database_pid: int,
    results: Results,
    print_line: Callable[[str], None],
    first: bool,
) -> None:
    rng = random.Random(half)
    tokens: dict[str, str | None] = {"system": None, "patient": None}
    if mode == "on":
        token_url = f"{server.base.removesuffix('/fhir')}/auth/token"
        async with httpx.AsyncClient(timeout=60, trust_env=False) as http:
            if first:
                writer = await system_token(http, site, token_url, BACKEND_SCOPE)
                started = time.perf_counter()
                await load(server, site, writer, options.patients, options.observations)
                total = options.patients * (1 + options.observations)
                print_line(
                    f"loaded {options.patients} Patients and "
                    f"{options.patients * options.observations} Observations in "
                    f"{time.perf_counter() - started:.1f} s ({total} PUTs, auth on)"
                )
                await measure_tokens(server, site, options, database_pid, results, print_line)
            tokens["system"] = await system_token(http, site, token_url, READ_SCOPE)
        flow = CodeFlow(server, site, 1)
        try:
            tokens["patient"] = await flow.token()
        finally:
            await flow.close()
    for concurrency in options.concurrency:
        for who in ("system", "patient"):
            fhir = FhirHttp(server.base, concurrency, tokens[who])
            try:
                for name, op in read_search_ops(fhir, who, site, rng).items():
                    result = await run_phase(
                        mode,
                        f"{who} {name}",
                        op,
                        concurrency,
                        seconds=options.seconds / 2,
                        count=None,
                        warmup=options.warmup,
                        server_pid=server.pid,
                        database_pid=database_pid,
                    )
                    results.phases.append(result)
                    print_line(summary_line(result))
            finally:
                await fhir.close()


async def benchmark(
    options: Options, database: EmbeddedDatabase, workdir: Path, console: Console
) -> Results:
    assert database.pid is not None
    uri = database.uri
    name = f"bench_auth_{uuid.uuid4().hex[:10]}"
    site = await register(uri, name, "bench-pat-00000")
    results = Results()

    def print_line(text: str) -> None:
        console.print(text, highlight=False, soft_wrap=True, markup=False)

    audit_before = 0
    for index, (mode, half) in enumerate(RUNS):
        server = MedrecServer(uri, name, workdir, auth=mode)
        started = time.perf_counter()
        server.start()
        console.rule(f"run {index + 1}/4: auth {mode} (pid {server.pid})")
        print_line(f"medrec ready in {time.perf_counter() - started:.1f} s at {server.base}")
        try:
            if mode == "on":
                audit_before = await count_audit_events(uri, name)
            await one_run(
                mode, half, server, site, options, database.pid, results, print_line, index == 0
            )
            if mode == "on":
                results.audit_events += await count_audit_events(uri, name) - audit_before
        finally:
            server.stop()
    return results


# -- reporting ---------------------------------------------------------------------------------


def summary_line(r: PhaseResult) -> str:
    halves = "/".join(f"{v:.0f}" for v in r.segments)
    return (
        f"auth {r.target} {r.op} c={r.concurrency}: {r.ops_per_s:.1f}/s (segments {halves}), "
        f"p50/p95 {_ms(r.percentile(50))}/{_ms(r.percentile(95))} ms; CPU ms/op medrec "
        f"{_ms(r.per_op_ms(r.server_cpu_s))}, db {_ms(r.per_op_ms(r.database_cpu_s))}, "
        f"bench {_ms(r.per_op_ms(r.client_cpu_s))}; busy cores medrec/db/bench {busy_cores(r)}, "
        f"other processes {_ms(r.cores(r.other_cpu_s))}; n={r.ops}, errors={r.errors}"
    )


def phase_table(title: str, results: list[PhaseResult]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("auth", "workload", "conc", "n", "err", "per s", "p50 ms", "p95 ms"):
        table.add_column(column, justify="left" if column in ("auth", "workload") else "right")
    for column in ("medrec CPU\nms/op", "db CPU\nms/op", "other procs\ncores"):
        table.add_column(column, justify="right")
    for r in results:
        table.add_row(
            r.target,
            r.op,
            str(r.concurrency),
            str(r.ops),
            str(r.errors),
            f"{r.ops_per_s:.1f}",
            _ms(r.percentile(50)),
            _ms(r.percentile(95)),
            _ms(r.per_op_ms(r.server_cpu_s)),
            _ms(r.per_op_ms(r.database_cpu_s)),
            _ms(r.cores(r.other_cpu_s)),
        )
    return table


def server_cpu_ms(r: PhaseResult) -> float | None:
    """medrec + database CPU per request: what serving it cost, wherever the work ran (the
    AuditEvent is written by the database)."""
    if r.server_cpu_s is None or r.ops == 0:
        return None
    return (r.server_cpu_s + r.database_cpu_s) * 1000 / r.ops


def overhead_table(merged: list[PhaseResult]) -> tuple[Table, list[str]]:
    """on vs off per workload and concurrency: the throughput overhead (1 - on ÷ off) against
    the target, and the CPU overhead (server CPU per request, on ÷ off - 1), which other load on
    the machine disturbs less than throughput."""
    by_key = {(r.target, r.op, r.concurrency): r for r in merged}
    table = Table(title="Authorization + audit on vs off", title_justify="left")
    columns = (
        "workload", "conc", "on /s", "off /s", "overhead", "target ≤ 15 %",
        "p50 on/off ms", "p95 on/off ms", "medrec+db CPU\nms/op on/off", "CPU\noverhead",
        "segments /s\non | off",
    )  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column == "workload" else "right")
    lines: list[str] = []
    for (target, op, concurrency), on in by_key.items():
        off = by_key.get(("off", op, concurrency))
        if target != "on" or off is None or off.ops_per_s == 0:
            continue
        overhead = 1 - on.ops_per_s / off.ops_per_s
        ok = overhead <= TARGET_OVERHEAD
        cpu_on, cpu_off = server_cpu_ms(on), server_cpu_ms(off)
        cpu_overhead = cpu_on / cpu_off - 1 if cpu_on and cpu_off else None
        cpu_text = "-" if cpu_overhead is None else f"{cpu_overhead:+.1%}"
        segments = (
            "/".join(f"{s:.0f}" for s in on.segments)
            + " | "
            + "/".join(f"{s:.0f}" for s in off.segments)
        )
        table.add_row(
            op,
            str(concurrency),
            f"{on.ops_per_s:.1f}",
            f"{off.ops_per_s:.1f}",
            f"{overhead:+.1%}",
            "[green]ok[/green]" if ok else "[red]MISS[/red]",
            f"{_ms(on.percentile(50))}/{_ms(off.percentile(50))}",
            f"{_ms(on.percentile(95))}/{_ms(off.percentile(95))}",
            f"{_ms(cpu_on)}/{_ms(cpu_off)}",
            cpu_text,
            segments,
        )
        lines.append(
            f"overhead {op} c={concurrency}: on {on.ops_per_s:.1f}/s vs off "
            f"{off.ops_per_s:.1f}/s = {overhead:+.1%} (target ≤ {TARGET_OVERHEAD:.0%}: "
            f"{'ok' if ok else 'MISS'}); medrec+db CPU {_ms(cpu_on)} vs {_ms(cpu_off)} ms/op = "
            f"{cpu_text}; p50 {_ms(on.percentile(50))} vs {_ms(off.percentile(50))} ms; "
            f"segments {segments}"
        )
    return table, lines


def merged_phases(phases: list[PhaseResult]) -> list[PhaseResult]:
    groups: dict[tuple[str, str, int], list[PhaseResult]] = {}
    for phase in phases:
        groups.setdefault((phase.target, phase.op, phase.concurrency), []).append(phase)
    return [merge(parts) for parts in groups.values()]


def token_lines(results: Results, merged: list[PhaseResult]) -> list[str]:
    off_reads = {r.concurrency: r for r in merged if r.target == "off" and r.op == "system read"}
    lines = []
    for r in results.token_phases:
        line = (
            f"{r.op} c={r.concurrency}: {r.ops_per_s:.1f} tokens/s, p50 "
            f"{_ms(r.percentile(50))} ms, medrec CPU {_ms(r.per_op_ms(r.server_cpu_s))} ms/token"
        )
        baseline = off_reads.get(r.concurrency)
        if baseline is not None and baseline.ops_per_s > 0:
            line += (
                f" (= {r.ops_per_s / baseline.ops_per_s:.1%} of the unauthenticated "
                f"read rate {baseline.ops_per_s:.0f}/s)"
            )
        if r.op == "authorization_code":
            steps = results.flow_steps[r.concurrency]
            line += "; p50 per step: " + ", ".join(
                f"{step} {_ms(steps.p50(step), 1)} ms" for step in FLOW_STEPS
            )
        lines.append(line)
    return lines


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description="medrec SMART authorization benchmark.")
    parser.add_argument(
        "--seconds",
        type=float,
        default=6.0,
        help="measured seconds per workload per mode, split over the two runs (default 6)",
    )
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up s per phase (1)")
    parser.add_argument("--concurrency", default="1,4", help="closed-loop clients (1,4)")
    parser.add_argument("--patients", type=int, default=200, help="patients loaded (200)")
    parser.add_argument("--observations", type=int, default=5, help="observations per patient (5)")
    parser.add_argument("--keep-data", action="store_true", help="keep the temp dir")
    args = parser.parse_args(argv)
    try:
        levels = [int(part) for part in args.concurrency.split(",") if part.strip()]
    except ValueError:
        parser.error("--concurrency takes comma-separated integers, e.g. 1,4")
    if not levels or min(levels) < 1 or args.seconds <= 0 or args.patients < 1:
        parser.error("--concurrency, --seconds and --patients must be positive")
    return Options(
        args.seconds, args.warmup, levels, args.patients, args.observations, args.keep_data
    )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    console = Console(width=None if sys.stdout.isatty() else 150)
    runner, loop_name = event_loop_runner()
    console.rule("medrec SMART authorization benchmark")
    console.print(
        f"command:  {shlex.join([Path(sys.executable).name, *sys.argv])}", highlight=False
    )
    load_average = " ".join(f"{v:.2f}" for v in os.getloadavg())
    console.print(
        f"machine:  {available_cpus()} CPUs (nproc), {cpu_model()}, {platform.platform()}, "
        f"load average {load_average}",
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        f"phases:   {options.seconds:g} s per workload and mode (two halves, runs on/off/off/on), "
        f"{options.warmup:g} s warm-up each, concurrency "
        f"{','.join(map(str, options.concurrency))}; event loop {loop_name}; "
        f"{options.patients} patients × {options.observations} observations",
        highlight=False,
        soft_wrap=True,
    )
    with workspace(options.keep_data, console) as workdir, runner:
        database = EmbeddedDatabase(workdir / "database")
        try:
            uri = database.start()
            version = runner.run(database_version(uri))
            console.print(f"database: embedded SecantusDB {version} (pid {database.pid})")
            results = runner.run(benchmark(options, database, workdir, console))
        finally:
            database.stop()
    merged = merged_phases(results.phases)
    console.rule("results")
    console.print(phase_table("Token issuance (auth on)", results.token_phases))
    console.print(phase_table("Read and search, both halves merged", merged))
    table, lines = overhead_table(merged)
    console.print(table)
    console.rule("summary")
    for line in token_lines(results, merged) + lines:
        console.print(line, highlight=False, soft_wrap=True, markup=False)
    console.print(
        f"AuditEvents written during the auth-on runs: {results.audit_events}",
        highlight=False,
    )
    noisiest = max((r.cores(r.other_cpu_s) or 0.0 for r in results.phases), default=0.0)
    console.print(
        f"noise: other processes kept up to {noisiest:.2f} of {available_cpus()} cores busy "
        "during a measured window; compare the two segments of each figure (ABBA halves).",
        highlight=False,
        soft_wrap=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
