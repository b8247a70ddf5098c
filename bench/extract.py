"""Search value extraction: compiled paths against fhirpathpy, on the official R4 examples.

    uv run python bench/extract.py [--types Observation,Patient] [--seconds 0.5]

For each resource type, extracts every search parameter from each official example of that
type (``<Type>-<id>.json`` of the R4 package, parsed with Decimal numbers as the server does),
first with ``extractor(type)`` (compiled paths, fhirpathpy only for what they cannot do), then
with an ``Extractor(type, fast=False)`` that runs every expression in fhirpathpy: the baseline.
Prints µs per resource for each (best of several timed rounds) and baseline ÷ extractor. It
only reports: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # `python bench/extract.py` without the project installed
    sys.path.insert(0, str(REPO_ROOT))

from fhir_server.model.r4_package import r4_package_dir  # noqa: E402
from fhir_server.search.extract import Extractor, coverage, extractor  # noqa: E402

DEFAULT_TYPES = (
    "Observation",
    "Patient",
    "Encounter",
    "Condition",
    "DiagnosticReport",
    "MedicationRequest",
    "Practitioner",
    "Procedure",
)
OBSERVATION_TARGET_US = 150.0


def examples(package: Path, rtype: str) -> list[dict[str, Any]]:
    out = []
    for path in sorted(package.glob(f"{rtype}-*.json")):
        resource = json.loads(path.read_bytes(), parse_float=Decimal)
        if isinstance(resource, dict) and resource.get("resourceType") == rtype:
            out.append(resource)
    return out


def us_per_resource(subject: Extractor, resources: list[dict[str, Any]], seconds: float) -> float:
    """Best round's mean: the least disturbed by other work on a shared machine."""
    for resource in resources:  # warm-up
        subject.extract(resource)
    best = float("inf")
    deadline = time.perf_counter() + seconds
    rounds = 0
    while rounds < 3 or time.perf_counter() < deadline:
        start = time.perf_counter()
        for resource in resources:
            subject.extract(resource)
        best = min(best, (time.perf_counter() - start) / len(resources))
        rounds += 1
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--types", default=",".join(DEFAULT_TYPES))
    parser.add_argument("--seconds", type=float, default=0.5, help="timing per type and path")
    args = parser.parse_args()

    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
    package = r4_package_dir()
    header = f"{'type':<18}{'examples':>9}{'params':>8}{'fast':>6}{'compiled µs':>13}"
    print(header + f"{'fhirpathpy µs':>15}{'ratio':>8}")
    for rtype in args.types.split(","):
        resources = examples(package, rtype)
        if not resources:
            print(f"{rtype:<18} no examples")
            continue
        fast = extractor(rtype)
        baseline = Extractor(rtype, fast=False)
        compiled_us = us_per_resource(fast, resources, args.seconds)
        baseline_us = us_per_resource(baseline, resources, args.seconds)
        params = len(fast.fast_codes) + len(fast.fallback_codes)
        print(
            f"{rtype:<18}{len(resources):>9}{params:>8}{len(fast.fast_codes):>6}"
            f"{compiled_us:>13.1f}{baseline_us:>15.1f}{baseline_us / compiled_us:>7.0f}×"
        )
        if rtype == "Observation":
            verdict = "met" if compiled_us <= OBSERVATION_TARGET_US else "MISSED"
            print(f"{'':<18}target ≤ {OBSERVATION_TARGET_US:.0f} µs per Observation: {verdict}")
    counts = coverage()
    print(
        "(type, parameter) pairs of served types: "
        + ", ".join(f"{name} {count}" for name, count in counts.items())
    )


if __name__ == "__main__":
    main()
