"""Terminology benchmark: $validate-code, filtered $expand and the lab name matcher.

    uv run python bench/terminology_ops.py [--seconds 3]

Over HTTP, the operations run through the real router, parameter parsing and JSON response, in
process (httpx's ASGI transport: no sockets, so the figures are CPU cost, not network). The
baseline of each is the same call on the Python API (``TerminologyService``), measured in the
same run; the ratio shows what HTTP and FHIR Parameters add. The matcher is measured on a mix of
printed names: exact and abbreviations, OCR-noisy (folded back), and misspelled (fuzzy).

Prints calls/s and latency p50/p95 for each. It only reports: nothing is asserted, nothing is
written, and no database is needed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
from fastapi import FastAPI

from fhir_server.api.errors import install_error_handlers
from terminology.api import router
from terminology.content import bundled_content
from terminology.lab_matcher import match_lab_test
from terminology.service import TerminologyService, default_service

GENDER_VS = "http://hl7.org/fhir/ValueSet/administrative-gender"
INTERPRETATION_VS = "http://hl7.org/fhir/ValueSet/observation-interpretation"
INTERPRETATION_CS = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
# validate-code calls: a mix of valid and invalid codes, with and without a system
VALIDATIONS = [
    (GENDER_VS, None, "female"),
    (GENDER_VS, "http://hl7.org/fhir/administrative-gender", "male"),
    (GENDER_VS, None, "mail"),
    (INTERPRETATION_VS, INTERPRETATION_CS, "HH"),
    (INTERPRETATION_VS, INTERPRETATION_CS, "ZZ"),
    ("http://hl7.org/fhir/ValueSet/observation-status", None, "final"),
]
FILTERS = ["chol", "hemo", "glu", "bili", "urine", "t4", "ferr", "plat"]
# printed lab names: (name, unit), about 60% exact, 25% OCR-noisy, 15% misspelled
NAMES = [
    ("Hemoglobin", "g/dL"),
    ("WBC", "x10^9/L"),
    ("Platelets", "K/uL"),
    ("Glucose", "mg/dL"),
    ("Sodium", "mmol/L"),
    ("Potassium", "mEq/L"),
    ("Creatinine", "µmol/L"),
    ("ALT (SGPT)", "U/L"),
    ("Cholesterol, total", "mg/dL"),
    ("HbA1c", "%"),
    ("TSH", "mIU/L"),
    ("INR", None),
    ("Hemog1obin", "g/dL"),
    ("T5H", "mIU/L"),
    ("G1ucose", "mg/dL"),
    ("Cho1esterol", "mmol/L"),
    ("P1atelets", "x10^9/L"),
    ("Creatlnine", "mg/dL"),
    ("Potasium", "mmol/L"),
    ("Triglycerldes", "mg/dL"),
]


@dataclass(slots=True)
class Result:
    name: str
    calls: int
    seconds: float
    latencies_ms: list[float]

    @property
    def per_s(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def run_sync(name: str, seconds: float, call: Callable[[int], object]) -> Result:
    for i in range(50):  # warm caches (value set members, unit parses)
        call(i)
    latencies: list[float] = []
    start = time.perf_counter()
    i = 0
    while time.perf_counter() - start < seconds:
        t = time.perf_counter()
        call(i)
        latencies.append((time.perf_counter() - t) * 1000)
        i += 1
    return Result(name, i, time.perf_counter() - start, latencies)


async def run_async(name: str, seconds: float, call: Callable[[int], Awaitable[None]]) -> Result:
    for i in range(50):
        await call(i)
    latencies: list[float] = []
    start = time.perf_counter()
    i = 0
    while time.perf_counter() - start < seconds:
        t = time.perf_counter()
        await call(i)
        latencies.append((time.perf_counter() - t) * 1000)
        i += 1
    return Result(name, i, time.perf_counter() - start, latencies)


def largest_value_set(service: TerminologyService) -> tuple[str, int]:
    sizes = []
    for vs in bundled_content().resources("ValueSet"):
        try:
            sizes.append((len(service.members(vs)), vs["url"]))
        except Exception:  # noqa: S112 - a value set we cannot expand is not a candidate
            continue
    size, url = max(sizes)
    return url, size


async def measure(seconds: float) -> list[tuple[Result, Result | None]]:
    service = default_service()
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    transport = httpx.ASGITransport(app=app)
    url, size = largest_value_set(service)
    print(f"largest bundled value set: {url} ({size} codes)")
    results: list[tuple[Result, Result | None]] = []
    async with httpx.AsyncClient(transport=transport, base_url="http://bench/fhir/") as http:

        async def validate_http(i: int) -> None:
            vs, system, code = VALIDATIONS[i % len(VALIDATIONS)]
            query = {"url": vs, "code": code, **({"system": system} if system else {})}
            response = await http.get("ValueSet/$validate-code", params=query)
            response.raise_for_status()

        def validate_api(i: int) -> object:
            vs, system, code = VALIDATIONS[i % len(VALIDATIONS)]
            return service.validate_code(vs, system, code)

        async def expand_http(i: int) -> None:
            query = {"url": url, "filter": FILTERS[i % len(FILTERS)], "count": "20"}
            response = await http.get("ValueSet/$expand", params=query)
            response.raise_for_status()

        def expand_api(i: int) -> object:
            return service.expand(url, FILTERS[i % len(FILTERS)], count=20)

        results.append(
            (
                await run_async("$validate-code (HTTP)", seconds, validate_http),
                run_sync("validate_code (Python API)", seconds, validate_api),
            )
        )
        results.append(
            (
                await run_async("$expand filtered, count=20 (HTTP)", seconds, expand_http),
                run_sync("expand filtered (Python API)", seconds, expand_api),
            )
        )
    exact = [n for n in NAMES[:12]]
    noisy = NAMES[12:17]
    misspelled = NAMES[17:]
    results.append(
        (
            run_sync(
                "match_lab_test, mix", seconds, lambda i: match_lab_test(*NAMES[i % len(NAMES)])
            ),
            None,
        )
    )
    results.append(
        (
            run_sync(
                "match_lab_test, exact", seconds, lambda i: match_lab_test(*exact[i % len(exact)])
            ),
            None,
        )
    )
    results.append(
        (
            run_sync(
                "match_lab_test, OCR-noisy",
                seconds,
                lambda i: match_lab_test(*noisy[i % len(noisy)]),
            ),
            None,
        )
    )
    results.append(
        (
            run_sync(
                "match_lab_test, misspelled (fuzzy)",
                seconds,
                lambda i: match_lab_test(*misspelled[i % len(misspelled)]),
            ),
            None,
        )
    )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measured time per phase")
    args = parser.parse_args(argv)
    print(f"python:  {platform.python_version()} ({sys.executable})")
    print(f"machine: {os.cpu_count()} CPUs, {platform.platform()}")
    t = time.perf_counter()
    match_lab_test("Hemoglobin", "g/dL")  # loads the catalogue and the UCUM parser
    print(f"first use (content, catalogue, UCUM parser): {time.perf_counter() - t:.2f} s")
    rows = asyncio.run(measure(args.seconds))
    print()
    print(f"{'phase':40} {'calls/s':>10} {'p50 ms':>8} {'p95 ms':>8}  baseline ratio")
    for result, baseline in rows:
        line = (
            f"{result.name:40} {result.per_s:10.0f} {result.percentile(50):8.3f} "
            f"{result.percentile(95):8.3f}"
        )
        if baseline is not None:
            line += f"  API/HTTP = {baseline.per_s / result.per_s:.1f}x"
        print(line)
        if baseline is not None:
            print(
                f"  {baseline.name:38} {baseline.per_s:10.0f} {baseline.percentile(50):8.3f} "
                f"{baseline.percentile(95):8.3f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
