"""The official FHIR R4 examples (npm package hl7.fhir.r4.examples@4.0.1) as a conformance corpus.

Every example of a type we serve is created (POST) and read back (GET): the read must return
exactly what was sent, decimals digit for digit, plus the server's meta (client meta such as
profile, tag and security kept). The examples our validator rejects are real defects in the
examples, listed with their reason in ``known_rejections.json``; the test fails when that list is
wrong either way. Examples of types we do not serve must get 404, and examples larger than the
body limit 413.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from fhir_server.config import Settings
from fhir_server.model.r4_package import r4_package_dir
from fhir_server.model.resource_types import supported_types
from tests.helpers import FHIR_JSON

KNOWN_REJECTIONS_FILE = Path(__file__).parent / "known_rejections.json"
# Requests in flight at once. The app runs in this event loop, so more buys little.
CONCURRENCY = 8
SERVER_META = ("versionId", "lastUpdated")
NOT_RESOURCES = frozenset({"package.json"})

ROUND_TRIPPED = "round-tripped"
REJECTED = "rejected"
UNSUPPORTED = "unsupported type"
TOO_LARGE = "too large"
NOT_A_RESOURCE = "not a resource"
FAILED = "FAILED"


def known_rejections() -> dict[str, str]:
    known: dict[str, str] = json.loads(KNOWN_REJECTIONS_FILE.read_bytes())
    return known


def example_files() -> list[Path]:
    """Every file of the package that may hold a resource (``.index.json`` and
    ``package.json`` are package metadata)."""
    return [
        path
        for path in sorted(r4_package_dir().iterdir())
        if path.is_file()
        and path.suffix == ".json"
        and not path.name.startswith(".")
        and path.name not in NOT_RESOURCES
    ]


def parse_exact(raw: bytes) -> Any:
    """JSON with decimals as ``Decimal``, so that their digits can be compared."""
    return json.loads(raw, parse_float=Decimal)


# -- comparison -------------------------------------------------------------------------------


def _show(value: Any) -> str:
    text = str(value) if isinstance(value, Decimal) else json.dumps(value, default=str)
    return text if len(text) <= 120 else text[:117] + "..."


def first_difference(expected: Any, actual: Any, path: str) -> str | None:
    """Where ``actual`` first differs from ``expected``, or None. Strict: types must match (``1``
    is not ``true`` nor ``1.0``), decimals must have the same digits (``72.50`` is not
    ``72.5``), and no element may be missing or added."""
    if type(expected) is not type(actual):
        return f"{path}: sent {_show(expected)}, read back {_show(actual)}"
    if isinstance(expected, dict):
        for key, value in expected.items():
            if key not in actual:
                return f"{path}.{key}: sent {_show(value)}, missing in the read-back"
            found = first_difference(value, actual[key], f"{path}.{key}")
            if found:
                return found
        for key in actual:
            if key not in expected:
                return f"{path}.{key}: not sent, read back {_show(actual[key])}"
        return None
    if isinstance(expected, list):
        for index, (sent, got) in enumerate(zip(expected, actual, strict=False)):
            found = first_difference(sent, got, f"{path}[{index}]")
            if found:
                return found
        if len(expected) != len(actual):
            return f"{path}: sent {len(expected)} items, read back {len(actual)}"
        return None
    if isinstance(expected, Decimal):
        if str(expected) != str(actual):
            return f"{path}: sent {expected}, read back {actual}"
        return None
    if expected != actual:
        return f"{path}: sent {_show(expected)}, read back {_show(actual)}"
    return None


def read_back_difference(sent: dict[str, Any], read: Any, rid: str) -> str | None:
    """None when ``read`` is ``sent`` with the server's id and meta (versionId "1")."""
    rtype = str(sent["resourceType"])
    if not isinstance(read, dict):
        return f"the read-back is not a JSON object: {_show(read)}"
    if read.get("id") != rid:
        return f"{rtype}.id: read back {_show(read.get('id'))}, the server assigned {rid!r}"
    meta = read.get("meta")
    if not isinstance(meta, dict):
        return f"{rtype}.meta: read back {_show(meta)}, expected an object"
    if meta.get("versionId") != "1":
        return f"{rtype}.meta.versionId: read back {_show(meta.get('versionId'))}, expected '1'"
    if not isinstance(meta.get("lastUpdated"), str):
        return f"{rtype}.meta.lastUpdated: read back {_show(meta.get('lastUpdated'))}"
    sent_meta = sent.get("meta", {})
    client_meta = {k: v for k, v in sent_meta.items() if k not in SERVER_META}
    read_meta = {k: v for k, v in meta.items() if k not in SERVER_META}
    content = {k: v for k, v in sent.items() if k not in ("id", "meta")}
    read_content = {k: v for k, v in read.items() if k not in ("id", "meta")}
    return first_difference(client_meta, read_meta, f"{rtype}.meta") or first_difference(
        content, read_content, rtype
    )


# -- one example ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    rtype: str
    outcome: str
    detail: str = ""


def _outcome_problem(response: httpx.Response, rtype: str) -> str | None:
    """Why a rejection is not a proper OperationOutcome naming element paths, or None."""
    try:
        body = response.json()
    except ValueError:
        return f"the {response.status_code} body is not JSON: {response.text[:200]}"
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        return f"the {response.status_code} body is not an OperationOutcome: {response.text[:200]}"
    issues = body.get("issue")
    if not isinstance(issues, list) or not issues:
        return "the OperationOutcome has no issue"
    for issue in issues:
        paths = issue.get("expression") if isinstance(issue, dict) else None
        if not paths or not all(
            isinstance(path, str) and (path == rtype or path.startswith((f"{rtype}.", f"{rtype}[")))
            for path in paths
        ):
            return f"an issue names no element path of {rtype}: {_show(issue)}"
    return None


def _diagnostics(response: httpx.Response) -> str:
    try:
        issues = response.json().get("issue", [])
        return " | ".join(str(issue.get("diagnostics")) for issue in issues)
    except (ValueError, AttributeError):
        return response.text[:300]


async def round_trip(
    client: httpx.AsyncClient, path: Path, settings: Settings, gate: asyncio.Semaphore
) -> Result:
    async with gate:
        raw = await asyncio.to_thread(path.read_bytes)
        head = orjson.loads(raw)
        if not isinstance(head, dict) or not isinstance(head.get("resourceType"), str):
            return Result(path.name, "", NOT_A_RESOURCE)
        rtype: str = head["resourceType"]
        del head
        try:
            created = await client.post(
                rtype,
                content=raw,
                headers={"content-type": FHIR_JSON, "prefer": "return=minimal"},
            )
        except Exception as exc:  # the app raised through the transport: a server bug
            return Result(path.name, rtype, FAILED, f"POST raised {exc!r}")
        status = created.status_code
        if rtype not in supported_types():
            if status == 404:
                return Result(path.name, rtype, UNSUPPORTED)
            return Result(path.name, rtype, FAILED, f"unsupported type: POST gave {status}")
        if len(raw) > settings.max_body_bytes:
            if status == 413:
                return Result(path.name, rtype, TOO_LARGE, f"{len(raw)} bytes")
            return Result(path.name, rtype, FAILED, f"{len(raw)} bytes: POST gave {status}")
        if status == 400:
            problem = _outcome_problem(created, rtype)
            if problem:
                return Result(path.name, rtype, FAILED, f"rejected, but {problem}")
            return Result(path.name, rtype, REJECTED, _diagnostics(created))
        if status != 201:
            return Result(path.name, rtype, FAILED, f"POST gave {status}: {_diagnostics(created)}")
        location = created.headers.get("location", "")
        parts = location.rsplit("/", 4)
        if len(parts) != 5 or parts[1] != rtype or parts[3] != "_history" or parts[4] != "1":
            return Result(path.name, rtype, FAILED, f"Location {location!r} is not version 1")
        if created.headers.get("etag") != 'W/"1"':
            return Result(path.name, rtype, FAILED, f"ETag {created.headers.get('etag')!r}")
        rid = parts[2]
        try:
            # FHIR JSON asked for: a Binary read with */* is its content (http.html#binary).
            read = await client.get(f"{rtype}/{rid}", headers={"accept": FHIR_JSON})
        except Exception as exc:
            return Result(path.name, rtype, FAILED, f"GET raised {exc!r}")
        if read.status_code != 200:
            return Result(
                path.name, rtype, FAILED, f"GET gave {read.status_code}: {_diagnostics(read)}"
            )
        difference = read_back_difference(parse_exact(raw), parse_exact(read.content), rid)
        if difference:
            return Result(path.name, rtype, FAILED, difference)
        return Result(path.name, rtype, ROUND_TRIPPED)


# -- the tests --------------------------------------------------------------------------------


@pytest.mark.slow
async def test_every_r4_example_round_trips(client: httpx.AsyncClient, settings: Settings) -> None:
    files = example_files()
    gate = asyncio.Semaphore(CONCURRENCY)
    started = time.perf_counter()
    results = await asyncio.gather(*(round_trip(client, path, settings, gate) for path in files))
    elapsed = time.perf_counter() - started

    counts = Counter(result.outcome for result in results)
    tried = len(results) - counts[NOT_A_RESOURCE]
    summary = (
        f"{len(files)} files, {tried} examples tried in {elapsed:.0f}s: "
        f"{counts[ROUND_TRIPPED]} round-tripped, {counts[REJECTED]} rejected by the validator, "
        f"{counts[UNSUPPORTED]} of unsupported types (404), {counts[TOO_LARGE]} too large (413), "
        f"{counts[NOT_A_RESOURCE]} not resources, {counts[FAILED]} failed"
    )
    print(summary)

    failed = [result for result in results if result.outcome == FAILED]
    assert not failed, f"{summary}\n" + "\n".join(
        f"  {result.name}: {result.detail}" for result in failed
    )

    known = known_rejections()
    rejected = {result.name: result.detail for result in results if result.outcome == REJECTED}
    new = {name: detail for name, detail in rejected.items() if name not in known}
    fixed = sorted(name for name in known if name not in rejected)
    assert not new and not fixed, (
        f"{summary}\nUpdate {KNOWN_REJECTIONS_FILE.name}:\n"
        + "".join(f"  newly rejected {name}: {detail}\n" for name, detail in sorted(new.items()))
        + "".join(f"  no longer rejected {name}: {known[name]}\n" for name in fixed)
    )

    assert counts[ROUND_TRIPPED] > 4000, summary
    assert counts[UNSUPPORTED] > 0, summary
    unserved = {result.rtype for result in results if result.outcome == UNSUPPORTED}
    assert not unserved & supported_types()


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        "MedicinalProduct-example.json",
        "MedicinalProductAuthorization-example.json",
        "SubstanceSpecification-example.json",
        "EffectEvidenceSynthesis-example.json",
        "Evidence-example.json",
    ],
)
async def test_examples_of_types_not_served_get_404(client: httpx.AsyncClient, name: str) -> None:
    path = r4_package_dir() / name
    raw = path.read_bytes()
    rtype = json.loads(raw)["resourceType"]
    assert rtype not in supported_types()
    response = await client.post(rtype, content=raw, headers={"content-type": FHIR_JSON})
    assert response.status_code == 404, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "not-found"
    assert (await client.get(f"{rtype}/example")).status_code == 404


@pytest.mark.slow
async def test_known_rejections_are_documented() -> None:
    known = known_rejections()
    names = {path.name for path in example_files()}
    for name, reason in known.items():
        assert name in names, f"{name} is not in the package"
        assert isinstance(reason, str) and len(reason) > 10, name
        assert "\n" not in reason, name


@pytest.mark.slow
async def test_a_changed_value_fails_the_comparison(client: httpx.AsyncClient) -> None:
    """The check can fail: a read-back differing in one decimal digit, one element, or one
    client meta entry is caught and located."""
    raw = (r4_package_dir() / "Observation-decimal.json").read_bytes()
    created = await client.post("Observation", content=raw, headers={"content-type": FHIR_JSON})
    assert created.status_code == 201, created.text
    rid = created.json()["id"]
    read = parse_exact((await client.get(f"Observation/{rid}")).content)
    sent = parse_exact(raw)
    assert read_back_difference(sent, read, rid) is None

    # 1.00 and 1.0 are equal as Decimals, but not the same FHIR decimal.
    assert str(sent["component"][1]["valueQuantity"]["value"]) == "1.00"
    read["component"][1]["valueQuantity"]["value"] = Decimal("1.0")
    assert read_back_difference(sent, read, rid) == (
        "Observation.component[1].valueQuantity.value: sent 1.00, read back 1.0"
    )
    read["component"][1]["valueQuantity"]["value"] = Decimal("1.00")
    read["status"] = "amended"
    assert read_back_difference(sent, read, rid) == (
        'Observation.status: sent "final", read back "amended"'
    )
    read["status"] = sent["status"]
    read["meta"]["tag"] = [{"code": "added"}]
    assert read_back_difference(sent, read, rid) == (
        'Observation.meta.tag: not sent, read back [{"code": "added"}]'
    )
    del read["meta"]["tag"]
    read["meta"]["versionId"] = "2"
    assert "versionId" in str(read_back_difference(sent, read, rid))


def test_the_comparison_is_strict_about_types() -> None:
    assert first_difference({"a": True}, {"a": 1}, "X") == "X.a: sent true, read back 1"
    assert first_difference([Decimal("1.0")], [1], "X") == "X[0]: sent 1.0, read back 1"
    assert first_difference([1, 2], [1], "X") == "X: sent 2 items, read back 1"
    assert first_difference({"a": {"b": "c"}}, {"a": {}}, "X") == (
        'X.a.b: sent "c", missing in the read-back'
    )
    assert first_difference(parse_exact(b'{"v": 1E-22}'), parse_exact(b'{"v": 1e-22}'), "X") is None
