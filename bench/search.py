"""Search benchmark: medrec's FHIR search over HTTP against hand-written pymongo queries.

    uv run python bench/search.py [--patients 2000] [--observations 20000] [--repeat 30]

Starts its own embedded database (SecantusDB, in a temp dir) and ``medrec serve`` on a free
port, as ``crud.py`` does. Loads generated Patients and Observations through medrec's REST API
(concurrent ``PUT``s with client-chosen ids) and reports the load throughput. Then runs each
search ``--repeat`` times after a warm-up, alternating medrec (HTTP) and the raw driver
(pymongo's AsyncMongoClient with a hand-written query on the documents medrec stored), and
prints p50/p95 latencies, the p95 ratio, CPU per search, result counts, whether both returned
the same ids, and the query plans the database reports. It only reports: nothing is asserted.

It uses medrec's public HTTP API only; the baseline reads the stored document shape
(``{_id, v, ts, res, idx: {code: [entries]}, comp, del}``) directly, so it keeps working
while medrec's search internals change.
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
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson
import pymongo
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from rich.console import Console
from rich.table import Table

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

import crud  # noqa: E402  (also puts the repository root on sys.path)
from crud import (  # noqa: E402
    Http,
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

from fhir_server.storage.embedded import EmbeddedDatabase  # noqa: E402
from fhir_server.storage.mongo import connect  # noqa: E402

Document = dict[str, Any]

PAGE = 20  # _count of every search, and the raw queries' page size
PAGES = 10  # the paging search follows `next` to this page
MIN_RUNS = 5  # measured runs per search and target, even past --budget
TARGET_P95_RATIO = 2.0  # medrec p95 ÷ raw p95 (reported, never asserted)
LIVE: Document = {"del": {"$ne": True}}  # current, not deleted
RES: Document = {"res": 1}  # the raw queries' projection (and _id)
TOP = "\U0010ffff"  # "starts with p": p <= s < p + TOP

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
MRN_SYSTEM = "urn:oid:2.16.840.1.113883.2.4.3.11.999.7"

# -- generated data ----------------------------------------------------------------------------

_FAMILY_NAMES = """
        de Jong|Jansen|de Vries|van den Berg|van Dijk|Bakker|Janssen|Visser|Smit|Meijer|de Boer|
        Mulder|de Groot|Bos|Vos|Peters|Hendriks|van Leeuwen|Dekker|Brouwer|de Wit|Dijkstra|Smits|
        de Graaf|van der Meer|van der Linden|Kok|Jacobs|de Haan|Vermeulen|van den Heuvel|
        van der Veen|van den Broek|de Bruijn|de Bruin|van der Heijden|Schouten|van Beek|Willems|
        van Vliet|van de Ven|Hoekstra|Maas|Verhoeven|Koster|van Dam|van der Wal|Prins|Blom|
        Huisman|Peeters|de Lange|Kuipers|van Wijk|Postma|Kuiper|Veenstra|Kramer|van den Brink|
        Scholten|Martens|Vink|de Ruiter|Smith|Johnson|Williams|Brown|Jones|Garcia|Miller|Davis|
        Rodriguez|Martinez|Hernandez|Lopez|Gonzalez|Wilson|Anderson|Thomas|Taylor|Moore|Jackson|
        Martin|Lee|Perez|Thompson|White|Harris|Sanchez|Clark|Ramirez|Lewis|Robinson|Walker|
        Young|Allen|King|Wright|Scott|Torres|Nguyen|Hill|Flores|Green|Adams|Nelson|Baker|Hall|
        Rivera|Campbell|Mitchell|Carter|Roberts|Müller|Schmidt|Schneider|Fischer|Weber|Meyer|
        Wagner|Becker|Schulz|Hoffmann|Schäfer|Koch|Bauer|Richter|Klein|Wolf|Schröder|Neumann|
        Schwarz|Zimmermann|Braun|Krüger|Hofmann|Hartmann|Lange|Schmitt|Werner|Krause|Lehmann|
        Köhler|Dubois|Durand|Lefèvre|Moreau|Laurent|Simon|Michel|Leroy|Roux|David|Bertrand|
        Morel|Fournier|Girard|Bonnet|Dupont|Lambert|Fontaine|Rousseau|Vincent|Rossi|Russo|
        Ferrari|Esposito|Bianchi|Romano|Colombo|Ricci|Marino|Greco|Bruno|Gallo|Conti|De Luca|
        Costa|Giordano|Mancini|Rizzo|Lombardi|Moretti|Yılmaz|Kaya|Demir|Şahin|Çelik|Yıldız|
        Öztürk|Aydın|El Amrani|Bouzid|Benali|Haddad|Nowak|Kowalski|Wiśniewski|Wójcik|Kowalczyk|
        Kamiński|Lewandowski|Zieliński|Novák|Svoboda|Dvořák|Andersen|Nielsen|Hansen|Pedersen|
        Larsen|Johansson|Karlsson|Nilsson|Eriksson|Kim|Park|Chen|Wang|Zhang|Liu|Tanaka|Suzuki|
        Sato|Singh|Kumar|Patel|Shah
        """
FAMILY = tuple(dict.fromkeys(name.strip() for name in _FAMILY_NAMES.split("|")))
GIVEN = (
    "Anna", "Marta", "Jonas", "Pieter", "Sofia", "Lucas", "Eva", "Noah", "Mila", "Daan", "Emma",
    "Liam", "Julia", "Sem", "Tess", "Finn", "Sara", "Levi", "Zoë", "Luuk", "Fatima", "Mohammed",
    "Yusuf", "Elif", "Mehmet", "Olivia", "James", "Maria", "José", "Chloé", "Léa", "Jan",
    "Willem", "Hendrik", "Johanna", "Cornelia", "Wei", "Mei", "Priya", "Arjun",
)  # fmt: skip
# (code, display, UCUM unit, typical low, typical high, share of all Observations in %)
LABS: tuple[tuple[str, str, str, float, float, float], ...] = (
    ("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", 70, 140, 12),
    ("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", 3.5, 5.1, 10),
    ("2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", 135, 145, 10),
    ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", 0.6, 1.3, 10),
    ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 12, 17, 8),
    ("6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10*3/uL", 4, 11, 7),
    ("777-3", "Platelets [#/volume] in Blood by Automated count", "10*3/uL", 150, 400, 7),
    ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 4, 9, 5),
    ("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL", 120, 280, 5),
    ("2571-8", "Triglyceride [Mass/volume] in Serum or Plasma", "mg/dL", 50, 300, 4),
    ("2085-9", "Cholesterol in HDL [Mass/volume] in Serum or Plasma", "mg/dL", 30, 90, 4),
    ("13457-7", "Cholesterol in LDL [Mass/volume] in Serum or Plasma by calculation", "mg/dL",
     50, 190, 4),
    ("1742-6", "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "U/L",
     7, 56, 4),
    ("1920-8", "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
     "U/L", 10, 40, 3),
    ("3094-0", "Urea nitrogen [Mass/volume] in Serum or Plasma", "mg/dL", 7, 20, 3),
    ("17861-6", "Calcium [Mass/volume] in Serum or Plasma", "mg/dL", 8.5, 10.5, 2),
    ("1975-2", "Bilirubin.total [Mass/volume] in Serum or Plasma", "mg/dL", 0.1, 1.2, 1),
    ("3016-3", "Thyrotropin [Units/volume] in Serum or Plasma", "m[IU]/L", 0.4, 4.0, 1),
    ("1988-5", "C reactive protein [Mass/volume] in Serum or Plasma", "mg/L", 0.0, 10.0, 0.5),
    ("2276-4", "Ferritin [Mass/volume] in Serum or Plasma", "ng/mL", 20, 300, 0.5),
)  # fmt: skip
LAB_WEIGHTS = [lab[5] for lab in LABS]
BIRTH_FROM, BIRTH_DAYS = datetime(1930, 1, 1, tzinfo=UTC), 91 * 365 + 23  # 1930 .. 2020
EFFECTIVE_FROM = datetime(2020, 1, 1, tzinfo=UTC)
EFFECTIVE_SECONDS = int((datetime(2027, 1, 1, tzinfo=UTC) - EFFECTIVE_FROM).total_seconds())

# What the searches look for.
CODE = "4548-4"  # HbA1c, 5 % of the Observations: token and _include searches
RARE_CODE = "2276-4"  # Ferritin, 0.5 %: _has (medrec refuses a hop matching > 1,000 resources)
FAMILY_PREFIX = "de"  # de Jong, de Vries, Dekker, Demir, De Luca, ...: about 6 % of Patients
CHAIN_FAMILY = "Jansen"  # one of the ~200 family names: about 0.5 % of Patients
DATE_FROM, DATE_TO = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC)


def resource_id(rng: random.Random) -> str:
    """Random 16 hex digits: ``_id`` order is unrelated to load order, as with server ids."""
    return f"{rng.getrandbits(64):016x}"


def new_patient(rng: random.Random, rid: str, number: int) -> Document:
    born = BIRTH_FROM + timedelta(days=rng.randrange(BIRTH_DAYS))
    given = [rng.choice(GIVEN)] + ([rng.choice(GIVEN)] if rng.random() < 0.4 else [])
    return {
        "resourceType": "Patient",
        "id": rid,
        "identifier": [
            {
                "use": "usual",
                "type": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}
                    ]
                },
                "system": MRN_SYSTEM,
                "value": f"MRN{number:08d}",
            }
        ],
        "active": True,
        "name": [{"use": "official", "family": rng.choice(FAMILY), "given": given}],
        "telecom": [{"system": "phone", "value": f"+31 6 {rng.randrange(10**8):08d}"}],
        "gender": rng.choice(("female", "male", "female", "male", "other", "unknown")),
        "birthDate": born.date().isoformat(),
    }


def new_observation(rng: random.Random, rid: str, patient_ids: list[str]) -> Document:
    code, display, unit, low, high, _ = rng.choices(LABS, LAB_WEIGHTS)[0]
    when = EFFECTIVE_FROM + timedelta(seconds=rng.randrange(EFFECTIVE_SECONDS))
    offset = 2 if 4 <= when.month <= 10 else 1  # as written by a Dutch lab system
    local = when + timedelta(hours=offset)
    issued = when + timedelta(minutes=rng.randrange(30, 600))
    spread = high - low
    value = round(rng.uniform(max(0.0, low - spread * 0.2), high + spread * 0.2), 1)
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                        "display": "Laboratory",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display},
        "subject": {"reference": f"Patient/{rng.choice(patient_ids)}"},
        "effectiveDateTime": f"{local:%Y-%m-%dT%H:%M:%S}+0{offset}:00",
        "issued": f"{issued:%Y-%m-%dT%H:%M:%S}.000Z",
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
        "referenceRange": [
            {
                "low": {"value": low, "unit": unit, "system": UCUM, "code": unit},
                "high": {"value": high, "unit": unit, "system": UCUM, "code": unit},
            }
        ],
    }


# -- loading through the REST API --------------------------------------------------------------


@dataclass(slots=True)
class LoadResult:
    rtype: str
    count: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    server_cpu_s: float = 0.0
    database_cpu_s: float = 0.0
    error_samples: list[str] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0

    def per_resource_ms(self, cpu_s: float) -> float | None:
        return cpu_s * 1000 / self.count if self.count else None


async def load(
    http: Http,
    rtype: str,
    bodies: Iterator[tuple[str, bytes]],
    total: int,
    concurrency: int,
    pids: tuple[int, int],
    console: Console,
) -> LoadResult:
    """``concurrency`` workers PUT ``/{rtype}/{id}`` (create with a client id) back to back."""
    result = LoadResult(rtype)

    async def worker() -> None:
        for rid, body in bodies:  # shared: each body is taken by exactly one worker
            start = time.perf_counter()
            try:
                await http.request("PUT", f"/{rtype}/{rid}", body)
            except Exception as exc:
                result.errors += 1
                if len(result.error_samples) < 5:
                    result.error_samples.append(f"{type(exc).__name__}: {exc}"[:300])
                continue
            result.latencies_ms.append((time.perf_counter() - start) * 1000)
            result.count += 1

    async def progress(started: float) -> None:
        while True:
            await asyncio.sleep(15)
            elapsed = time.perf_counter() - started
            console.print(
                f"  {rtype}: {result.count:,}/{total:,} in {elapsed:.0f} s "
                f"({result.count / elapsed:.0f}/s), {result.errors} errors",
                highlight=False,
            )

    server_pid, database_pid = pids
    server0, database0 = process_cpu_seconds(server_pid), process_cpu_seconds(database_pid)
    started = time.perf_counter()
    reporter = asyncio.create_task(progress(started))
    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        reporter.cancel()
    result.seconds = time.perf_counter() - started
    result.server_cpu_s = process_cpu_seconds(server_pid) - server0
    result.database_cpu_s = process_cpu_seconds(database_pid) - database0
    return result


# -- the searches ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a search returned: match ids in order and the included resources (Type/id)."""

    matches: list[str]
    included: list[str]
    pages: int = 1


def differences(a: Outcome, b: Outcome) -> int:
    """0 when both hold the same matches in the same order and the same included resources;
    else the number of resources in only one of them (or of misplaced matches)."""
    only = len(set(a.matches) ^ set(b.matches)) + len(set(a.included) ^ set(b.included))
    if only == 0 and a.matches != b.matches:
        return sum(x != y for x, y in zip(a.matches, b.matches, strict=False))
    return only


def relative_url(url: str) -> str:
    """A ``next`` link as a path under the FHIR base (whatever base the server advertises)."""
    parts = urlsplit(url)
    return f"/{parts.path.rstrip('/').rsplit('/', 1)[-1]}?{parts.query}"


def bundle_page(body: bytes) -> tuple[list[str], list[str], str | None]:
    bundle = orjson.loads(body)
    matches: list[str] = []
    included: list[str] = []
    for entry in bundle.get("entry", ()):
        resource = entry["resource"]
        key = f"{resource['resourceType']}/{resource['id']}"
        mode = entry.get("search", {}).get("mode")
        (included if mode == "include" else matches).append(key)
    next_url = next(
        (link["url"] for link in bundle.get("link", ()) if link.get("relation") == "next"), None
    )
    return matches, included, next_url


async def medrec_search(http: Http, path: str, pages: int) -> Outcome:
    matches: list[str] = []
    included: list[str] = []
    done = 0
    while True:
        page, extra, next_url = bundle_page(await http.request("GET", path))
        matches += page
        included += extra
        done += 1
        if next_url is None or done >= pages:
            return Outcome(matches, included, done)
        path = relative_url(next_url)


@dataclass(frozen=True, slots=True)
class Step:
    """One query of a raw search: a page (sorted by _id, PAGE + 1 documents, ``res`` only) or
    a hop (every matching document, one field). Hinted only where that is faster: see ``Raw``."""

    rtype: str
    filter: Document
    projection: Document = field(default_factory=lambda: dict(RES))
    page: bool = True
    hint: str | None = None

    def cursor(self, db: AsyncDatabase[Document]) -> Any:
        cursor = db[self.rtype].find(self.filter, self.projection)
        if self.page:
            cursor = cursor.sort("_id", 1).limit(PAGE + 1)
        return cursor.hint(self.hint) if self.hint else cursor


Runner = Callable[[Step], Awaitable[list[Document]]]


@dataclass(frozen=True, slots=True)
class RawOutcome:
    outcome: Outcome
    counted: Step  # the step whose filter selects all matches (for the total)


RawSearch = Callable[[Runner], Awaitable[RawOutcome]]


def _starts_with(prefix: str) -> Document:
    return {"$gte": prefix, "$lt": prefix + TOP}


class Raw:
    """The hand-written baseline: pymongo queries on the documents medrec stored, written the
    way the embedded database runs them best.

    - One indexed field per filter where that is exact: the planner picks an index only for
      a one-predicate filter. A deleted resource is stored as ``{_id, v, ts, del: true}``,
      without ``res`` or ``idx``, so a filter on ``idx.*`` never matches one and needs no
      ``del`` condition.
    - Filters on ``_id`` alone could match a deleted resource: the page is checked for one
      (a document without ``res``) and only then asked again with ``del: {$ne: true}``.
    - No hints but one: SecantusDB 0.7 answers a hinted find by walking the whole index (for
      a multikey index: every document of the collection, sorted in Python), whatever the
      filter. Measured at 22,000 documents: 3 s hinted, 80 ms without. Paging is the
      exception: it reads the collection in ``_id`` order anyway, and the ``_id_`` hint
      spares it the sort (measured: 20 ms instead of 35 ms a page at 500 Patients).
    """

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db

    async def run(self, step: Step) -> list[Document]:
        docs: list[Document] = await step.cursor(self.db).to_list()
        return docs

    async def count(self, step: Step) -> int:
        if step.hint:
            return await self.db[step.rtype].count_documents(step.filter, hint=step.hint)
        return await self.db[step.rtype].count_documents(step.filter)

    async def explain(self, step: Step) -> str:
        plan: Document = await step.cursor(self.db).explain()
        return plan_summary(plan.get("queryPlanner", plan).get("winningPlan", {}))

    @staticmethod
    def ids(rtype: str, docs: list[Document]) -> list[str]:
        return [f"{rtype}/{doc['_id']}" for doc in docs[:PAGE]]

    @staticmethod
    async def live_page(
        run: Runner, rtype: str, filter_: Document, hint: str | None = None
    ) -> tuple[list[Document], Step]:
        """A page of a filter on ``_id`` alone, without deleted resources."""
        step = Step(rtype, filter_, hint=hint)
        docs = await run(step)
        if any("res" not in doc for doc in docs):  # a tombstone: ask again, excluding them
            step = Step(rtype, {**filter_, **LIVE}, hint=hint)
            docs = await run(step)
        return docs, step

    # The searches: the first page (or pages), and the step that counts all matches.

    async def token(self, run: Runner) -> RawOutcome:
        filter_ = {"idx.code.c": CODE, "idx.code": {"$elemMatch": {"s": LOINC, "c": CODE}}}
        step = Step("Observation", filter_)
        return RawOutcome(Outcome(self.ids("Observation", await run(step)), []), step)

    async def string(self, run: Runner) -> RawOutcome:
        step = Step("Patient", {"idx.family.n": _starts_with(FAMILY_PREFIX.lower())})
        return RawOutcome(Outcome(self.ids("Patient", await run(step)), []), step)

    async def date(self, run: Runner) -> RawOutcome:
        # effectiveDateTime has one entry [lo, hi) of one second: ge/lt of whole days on lo.
        step = Step("Observation", {"idx.date.lo": {"$gte": DATE_FROM, "$lt": DATE_TO}})
        return RawOutcome(Outcome(self.ids("Observation", await run(step)), []), step)

    async def chained(self, run: Runner) -> RawOutcome:
        hop = Step(
            "Patient",
            {"idx.family.n": _starts_with(CHAIN_FAMILY.lower())},
            {"_id": 1},
            page=False,
        )
        refs = [f"Patient/{doc['_id']}" for doc in await run(hop)]
        step = Step("Observation", {"idx.subject.r": {"$in": refs}})
        return RawOutcome(Outcome(self.ids("Observation", await run(step)), []), step)

    async def reverse_chain(self, run: Runner) -> RawOutcome:
        hop = Step("Observation", {"idx.code.c": RARE_CODE}, {"idx.subject": 1}, page=False)
        ids = sorted(
            {
                entry["i"]
                for doc in await run(hop)
                for entry in doc.get("idx", {}).get("subject", ())
                if str(entry.get("r", "")).startswith("Patient/")
            }
        )
        docs, step = await self.live_page(run, "Patient", {"_id": {"$in": ids}})
        return RawOutcome(Outcome(self.ids("Patient", docs), []), step)

    async def include(self, run: Runner) -> RawOutcome:
        step = Step("Observation", {"idx.code.c": CODE})
        docs = (await run(step))[:PAGE]
        subjects = {
            reference.removeprefix("Patient/")
            for doc in docs
            if (reference := doc["res"].get("subject", {}).get("reference", "")).startswith(
                "Patient/"
            )
        }
        included: list[str] = []
        if subjects:
            targets, _ = await self.live_page(run, "Patient", {"_id": {"$in": sorted(subjects)}})
            included = [f"Patient/{doc['_id']}" for doc in targets]
        return RawOutcome(Outcome(self.ids("Observation", docs), included), step)

    async def paging(self, run: Runner) -> RawOutcome:
        docs, _ = await self.live_page(run, "Patient", {}, "_id_")
        matches = self.ids("Patient", docs)
        pages = 1
        while len(docs) > PAGE and pages < PAGES:  # keyset: strictly after the last _id
            after = {"_id": {"$gt": docs[PAGE - 1]["_id"]}}
            docs, _ = await self.live_page(run, "Patient", after, "_id_")
            matches += self.ids("Patient", docs)
            pages += 1
        return RawOutcome(Outcome(matches, [], pages), Step("Patient", dict(LIVE)))


def plan_summary(plan: Document) -> str:
    """``LIMIT←SORT←FETCH←IXSCAN idx.code.c``: the stages of a winning plan, outermost first."""
    stages: list[str] = []
    node: Any = plan
    while isinstance(node, dict) and node.get("stage"):
        stage = str(node["stage"])
        if stage == "IXSCAN":
            stage += f" {node.get('indexName', '?')}"
        stages.append(stage)
        node = node.get("inputStage")
    return "←".join(stages) if stages else "?"


@dataclass(frozen=True, slots=True)
class SearchCase:
    name: str
    query: str  # medrec path and query string
    raw: RawSearch
    baseline: str  # what the raw search does, in words
    pages: int = 1


def search_cases(raw: Raw) -> list[SearchCase]:
    def q(rtype: str, *params: tuple[str, str]) -> str:
        return f"/{rtype}?{urlencode([*params, ('_count', str(PAGE))])}"

    day = "%Y-%m-%d"
    return [
        SearchCase(
            "token",
            q("Observation", ("code", f"{LOINC}|{CODE}")),
            raw.token,
            "idx.code.c + $elemMatch {s, c}",
        ),
        SearchCase(
            "string",
            q("Patient", ("family", FAMILY_PREFIX)),
            raw.string,
            "idx.family.n in [prefix, prefix + U+10FFFF)",
        ),
        SearchCase(
            "date range",
            q(
                "Observation",
                ("date", f"ge{DATE_FROM.strftime(day)}"),
                ("date", f"lt{DATE_TO.strftime(day)}"),
            ),
            raw.date,
            "idx.date.lo in [from, to)",
        ),
        SearchCase(
            "chained",
            q("Observation", ("subject:Patient.family", CHAIN_FAMILY)),
            raw.chained,
            "Patient _ids by idx.family.n, then Observation idx.subject.r $in",
        ),
        SearchCase(
            "reverse chain",
            q("Patient", ("_has:Observation:subject:code", RARE_CODE)),
            raw.reverse_chain,
            "Observation idx.subject by idx.code.c, then Patient _id $in",
        ),
        SearchCase(
            "include",
            q("Observation", ("code", CODE), ("_include", "Observation:subject")),
            raw.include,
            "page by idx.code.c, then Patient _id $in (page's res.subject)",
        ),
        SearchCase(
            f"paging ×{PAGES}",
            q("Patient"),
            raw.paging,
            f"{PAGES} pages: {{}}, then _id $gt last _id; hint _id_",
            pages=PAGES,
        ),
    ]


# -- measuring ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Side:
    """One target's measurements of one search."""

    latencies_ms: list[float] = field(default_factory=list)
    server_cpu_s: float = 0.0
    database_cpu_s: float = 0.0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    outcome: Outcome | None = None
    total: int | None = None
    plan: str = "-"

    def percentile(self, p: float) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    def cpu_ms(self, cpu_s: float) -> float | None:
        return cpu_s * 1000 / len(self.latencies_ms) if self.latencies_ms else None

    def fail(self, exc: Exception) -> None:
        self.errors += 1
        if len(self.error_samples) < 3:
            self.error_samples.append(f"{type(exc).__name__}: {exc}"[:300])


@dataclass(slots=True)
class CaseResult:
    case: SearchCase
    medrec: Side = field(default_factory=Side)
    raw: Side = field(default_factory=Side)
    cut_short: bool = False  # stopped before --repeat runs: --budget was spent

    @property
    def ratio(self) -> float | None:
        medrec, raw = self.medrec.percentile(95), self.raw.percentile(95)
        return medrec / raw if medrec is not None and raw else None

    @property
    def mismatches(self) -> int | None:
        if self.medrec.outcome is None or self.raw.outcome is None:
            return None
        return differences(self.medrec.outcome, self.raw.outcome)


async def measure(
    case: SearchCase,
    http: Http,
    raw: Raw,
    options: Options,
    pids: tuple[int, int],
) -> CaseResult:
    """Warm up, then ``repeat`` runs of each target, alternating which goes first; fewer (but
    at least MIN_RUNS) when the measured runs took more than ``budget`` seconds."""
    result = CaseResult(case)
    server_pid, database_pid = pids

    async def medrec() -> Outcome:
        return await medrec_search(http, case.query, case.pages)

    async def baseline() -> Outcome:
        return (await case.raw(raw.run)).outcome

    targets: dict[str, tuple[Callable[[], Awaitable[Outcome]], Side]] = {
        "medrec": (medrec, result.medrec),
        "raw": (baseline, result.raw),
    }
    warmup = options.warmup
    measuring_since = 0.0
    for run_number in range(warmup + options.repeat):
        if run_number == warmup:
            measuring_since = time.perf_counter()
        elif (
            run_number >= warmup + MIN_RUNS
            and time.perf_counter() - measuring_since > options.budget
        ):
            result.cut_short = True
            break
        order = ("medrec", "raw") if run_number % 2 == 0 else ("raw", "medrec")
        for name in order:
            search, side = targets[name]
            server0, database0 = process_cpu_seconds(server_pid), process_cpu_seconds(database_pid)
            start = time.perf_counter()
            try:
                outcome = await search()
            except Exception as exc:
                side.fail(exc)
                continue
            elapsed_ms = (time.perf_counter() - start) * 1000
            if side.outcome is None:
                side.outcome = outcome
            if run_number >= warmup:
                side.latencies_ms.append(elapsed_ms)
                if name == "medrec":
                    side.server_cpu_s += process_cpu_seconds(server_pid) - server0
                side.database_cpu_s += process_cpu_seconds(database_pid) - database0
    return result


async def describe(result: CaseResult, http: Http, raw: Raw) -> None:
    """Untimed: total matches and query plans, from medrec (``_summary=count``,
    ``_explain=true``) and from the database for each raw step (``explain``)."""
    case = result.case
    try:
        body = orjson.loads(await http.request("GET", f"{case.query}&_summary=count"))
        result.medrec.total = body.get("total")
    except Exception as exc:
        result.medrec.fail(exc)
    try:
        body = orjson.loads(await http.request("GET", f"{case.query}&_explain=true"))
        values = {p.get("name"): p.get("valueString") for p in body.get("parameter", ())}
        plan = values.get("plan")
        summary = plan_summary(orjson.loads(plan)) if plan else "?"
        queries = sum(1 for p in body.get("parameter", ()) if p.get("name") == "filter")
        result.medrec.plan = f"leads with {values.get('index')}; db: {summary}" + (
            f" (first of {queries} queries)" if queries > 1 else ""
        )
    except Exception as exc:
        result.medrec.plan = f"n/a ({type(exc).__name__})"
    steps: list[Step] = []

    async def record(step: Step) -> list[Document]:
        steps.append(step)
        return await raw.run(step)

    try:
        counted = (await case.raw(record)).counted
        result.raw.total = await raw.count(counted)
        plans: list[str] = []
        for step in steps:
            line = f"{step.rtype}: {await raw.explain(step)}"
            if plans and plans[-1].split(" ×")[0] == line:
                repeats = int(plans[-1].split(" ×")[1]) if " ×" in plans[-1] else 1
                plans[-1] = f"{line} ×{repeats + 1}"
            else:
                plans.append(line)
        result.raw.plan = " → ".join(plans)
    except Exception as exc:
        result.raw.fail(exc)


# -- reporting ---------------------------------------------------------------------------------


def _ms(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _verdict(ratio: float | None) -> str:
    if ratio is None:
        return "-"
    return "[green]ok[/green]" if ratio <= TARGET_P95_RATIO else "[red]MISS[/red]"


def _same(result: CaseResult) -> str:
    mismatches = result.mismatches
    if mismatches is None:
        return "-"
    return "[green]✓[/green]" if mismatches == 0 else f"[red]✗ {mismatches} differ[/red]"


def load_table(results: list[LoadResult]) -> Table:
    table = Table(title="Load through the REST API (PUT with client ids)", title_justify="left")
    for name in ("type", "loaded", "errors", "seconds", "resources/s", "p50 ms", "p95 ms"):
        table.add_column(name, justify="left" if name == "type" else "right")
    table.add_column("medrec\nCPU ms/res", justify="right")
    table.add_column("db\nCPU ms/res", justify="right")
    for r in results:
        side = Side(latencies_ms=r.latencies_ms)
        table.add_row(
            r.rtype,
            f"{r.count:,}",
            str(r.errors) if r.errors == 0 else f"[red]{r.errors}[/red]",
            f"{r.seconds:.1f}",
            f"{r.per_second:.0f}",
            _ms(side.percentile(50)),
            _ms(side.percentile(95)),
            _ms(r.per_resource_ms(r.server_cpu_s), 2),
            _ms(r.per_resource_ms(r.database_cpu_s), 2),
        )
    return table


def search_table(results: list[CaseResult]) -> Table:
    table = Table(title="Searches: medrec (HTTP) vs raw driver", title_justify="left")
    table.add_column("search")
    for name in ("medrec\np50 ms", "medrec\np95 ms", "raw\np50 ms", "raw\np95 ms"):
        table.add_column(name, justify="right")
    table.add_column(f"p95 ratio\n(≤ {TARGET_P95_RATIO:g}×)", justify="right")
    table.add_column("medrec CPU\nms/search", justify="right")
    table.add_column("db CPU ms\nmedrec/raw", justify="right")
    table.add_column("returned\nmedrec/raw", justify="right")
    table.add_column("total\nmedrec/raw", justify="right")
    table.add_column("same ids", justify="left")
    table.add_column("runs\nmedrec/raw", justify="right")
    for r in results:
        m, w = r.medrec, r.raw
        ratio = r.ratio
        returned = "/".join(
            "-"
            if s.outcome is None
            else f"{len(s.outcome.matches)}+{len(s.outcome.included)}"
            if s.outcome.included
            else str(len(s.outcome.matches))
            for s in (m, w)
        )
        totals = "/".join("-" if s.total is None else str(s.total) for s in (m, w))
        table.add_row(
            r.case.name,
            _ms(m.percentile(50)),
            _ms(m.percentile(95)),
            _ms(w.percentile(50)),
            _ms(w.percentile(95)),
            "-" if ratio is None else f"{ratio:.2f}× {_verdict(ratio)}",
            _ms(m.cpu_ms(m.server_cpu_s)),
            f"{_ms(m.cpu_ms(m.database_cpu_s))}/{_ms(w.cpu_ms(w.database_cpu_s))}",
            returned,
            totals,
            _same(r),
            f"{len(m.latencies_ms)}/{len(w.latencies_ms)}{'*' if r.cut_short else ''}",
        )
    return table


def plan_table(results: list[CaseResult]) -> Table:
    table = Table(
        title="Query plans (winning plan as the database reports it)", title_justify="left"
    )
    table.add_column("search")
    table.add_column("medrec query")
    table.add_column("medrec plan (_explain=true, main query)")
    table.add_column("raw baseline")
    table.add_column("raw plans (explain, per step)")
    for r in results:
        table.add_row(r.case.name, r.case.query, r.medrec.plan, r.case.baseline, r.raw.plan)
    return table


def summary_line(r: CaseResult) -> str:
    m, w = r.medrec, r.raw
    ratio = r.ratio
    verdict = "" if ratio is None else (" ok" if ratio <= TARGET_P95_RATIO else " MISS")
    same = r.mismatches
    return (
        f"search {r.case.name}: medrec p50/p95 {_ms(m.percentile(50), 2)}/"
        f"{_ms(m.percentile(95), 2)} ms, raw p50/p95 {_ms(w.percentile(50), 2)}/"
        f"{_ms(w.percentile(95), 2)} ms, p95 ratio {_ms(ratio, 2)} "
        f"(target ≤ {TARGET_P95_RATIO:g}{verdict}); returned "
        f"{'-' if m.outcome is None else len(m.outcome.matches) + len(m.outcome.included)}/"
        f"{'-' if w.outcome is None else len(w.outcome.matches) + len(w.outcome.included)}, "
        f"total {m.total}/{w.total}, "
        f"ids {'-' if same is None else 'same' if same == 0 else f'{same} differ'}; "
        f"CPU ms/search medrec {_ms(m.cpu_ms(m.server_cpu_s), 2)}, db "
        f"{_ms(m.cpu_ms(m.database_cpu_s), 2)}/{_ms(w.cpu_ms(w.database_cpu_s), 2)}; "
        f"n={len(m.latencies_ms)}/{len(w.latencies_ms)}"
        f"{' (cut short by --budget)' if r.cut_short else ''}, errors={m.errors}/{w.errors}"
    )


# -- main --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Options:
    patients: int
    observations: int
    repeat: int
    warmup: int
    budget: float
    concurrency: int
    client: str
    keep_data: bool
    seed: int


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        description="medrec search benchmark (HTTP) against hand-written pymongo queries."
    )
    parser.add_argument("--patients", type=int, default=2000, help="Patients to load (2000)")
    parser.add_argument(
        "--observations", type=int, default=20000, help="Observations to load (20000)"
    )
    parser.add_argument("--repeat", type=int, default=30, help="measured runs per search (30)")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured runs per search (2)")
    parser.add_argument(
        "--budget",
        type=float,
        default=60.0,
        help=f"seconds of measured runs per search after which it stops early, after at least "
        f"{MIN_RUNS} runs of each target (60)",
    )
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent PUTs (16)")
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
    if args.patients < 1 or args.observations < 0:
        parser.error("--patients must be positive, --observations not negative")
    if args.repeat < 1 or args.warmup < 0 or args.concurrency < 1 or args.budget <= 0:
        parser.error("--repeat, --concurrency and --budget must be positive, --warmup not negative")
    return Options(
        args.patients,
        args.observations,
        args.repeat,
        args.warmup,
        args.budget,
        args.concurrency,
        pick_client(args.client),
        args.keep_data,
        args.seed,
    )


def process_running(pid: int) -> bool:
    """Whether a child process still runs (not exited, nor a zombie waiting to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].split()[0] != "Z"


def tail(path: Path, size: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError as exc:
        return f"(unreadable: {exc})"


def print_line(console: Console, text: str) -> None:
    console.print(text, highlight=False, soft_wrap=True, markup=False)


async def benchmark(
    options: Options, server: MedrecServer, database: EmbeddedDatabase, console: Console
) -> tuple[list[LoadResult], list[CaseResult]]:
    assert database.pid is not None
    pids = (server.pid, database.pid)
    rng = random.Random(options.seed)
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    loop.add_signal_handler(signal.SIGTERM, task.cancel)  # close clients before the processes
    http = make_http(options.client, server.base, options.concurrency)
    client: AsyncMongoClient[Document] = connect(database.uri, app_name="medrec-bench-raw")
    try:
        console.rule("load")
        patient_ids = [resource_id(rng) for _ in range(options.patients)]
        observation_ids = [resource_id(rng) for _ in range(options.observations)]
        patients = (
            (rid, orjson.dumps(new_patient(rng, rid, n))) for n, rid in enumerate(patient_ids)
        )
        observations = (
            (rid, orjson.dumps(new_observation(rng, rid, patient_ids))) for rid in observation_ids
        )
        loads: list[LoadResult] = []
        for rtype, bodies, total in (
            ("Patient", patients, options.patients),
            ("Observation", observations, options.observations),
        ):
            result = await load(http, rtype, bodies, total, options.concurrency, pids, console)
            loads.append(result)
            print_line(
                console,
                f"load {rtype}: {result.count:,} in {result.seconds:.1f} s = "
                f"{result.per_second:.0f} resources/s, {result.errors} errors",
            )
            for sample in result.error_samples:
                print_line(console, f"    error: {sample}")
        console.rule("searches")
        raw = Raw(client[server.database])
        cases: list[CaseResult] = []
        for case in search_cases(raw):
            result_ = await measure(case, http, raw, options, pids)
            await describe(result_, http, raw)
            cases.append(result_)
            print_line(console, summary_line(result_))
            for target, side in (("medrec", result_.medrec), ("raw", result_.raw)):
                for sample in side.error_samples:
                    print_line(console, f"    {target} error: {sample}")
            for name, pid, log in (
                ("database", database.pid, database.data_dir / "db.log"),
                ("medrec", server.pid, server.log_path),
            ):
                if not process_running(pid):
                    print_line(
                        console,
                        f"the {name} process (pid {pid}) has exited: stopping here. "
                        f"Tail of {log}:\n{tail(log)}",
                    )
                    return loads, cases
        return loads, cases
    finally:
        await http.close()
        await client.close()
        loop.remove_signal_handler(signal.SIGTERM)
        signal.signal(signal.SIGTERM, crud._interrupt)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, crud._interrupt)  # clean up as on Ctrl-C: medrec, then the db
    console = Console(width=None if sys.stdout.isatty() else 200)
    runner, loop_name = event_loop_runner()
    command = shlex.join([Path(sys.executable).name, *sys.argv])
    console.rule("medrec search benchmark")
    print_line(console, f"command:  {command}")
    print_line(console, f"python:   {sys.executable} ({platform.python_version()})")
    load_average = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print_line(
        console,
        f"machine:  {available_cpus()} CPUs (nproc), {cpu_model()}, {platform.platform()}, "
        f"load average {load_average}",
    )
    print_line(
        console,
        f"data:     {options.patients:,} Patients, {options.observations:,} Observations "
        f"(seed {options.seed}), loaded with {options.concurrency} concurrent PUTs; searches: "
        f"{options.repeat} measured runs each after {options.warmup} warm-up runs, page size "
        f"{PAGE}, one at a time, measuring for at most {options.budget:g} s per search (at least "
        f"{MIN_RUNS} runs); HTTP client {options.client}, event loop {loop_name}, "
        f"pymongo {pymongo.version}",
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
            started = time.perf_counter()
            server = MedrecServer(uri, f"bench_{uuid.uuid4().hex[:10]}", workdir)
            server.start()
            print_line(
                console,
                f"medrec:   {server.base} (pid {server.pid}, database {server.database}), "
                f"ready in {time.perf_counter() - started:.1f} s",
            )
            coroutine: Coroutine[Any, Any, tuple[list[LoadResult], list[CaseResult]]] = benchmark(
                options, server, database, console
            )
            loads, cases = runner.run(coroutine)
            console.rule("results")
            console.print(load_table(loads))
            console.print(search_table(cases))
            console.print(plan_table(cases))
            console.rule("summary")
            for result in loads:
                print_line(
                    console,
                    f"load {result.rtype}: {result.per_second:.1f} resources/s "
                    f"({result.count} in {result.seconds:.1f} s, {result.errors} errors)",
                )
            for case in cases:
                print_line(console, summary_line(case))
            print_line(
                console,
                f"(latency: wall time of one search as the client sees it, medrec including "
                f"HTTP and JSON; CPU ms/search = utime+stime of the process over the measured "
                f"runs ÷ runs, 10 ms ticks; medrec, the database and this benchmark share "
                f"{available_cpus()} CPUs)",
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
