"""Step 8: the document's MRN → the one Patient with that medical record number, confirmed by
the name and date of birth printed on the pages.

An MRN is a Patient identifier of type MR (v2-0203), whatever its system (the labels read it
the same way), or one in ``MRN_SYSTEM``. No Patient, several, a name or date of birth that was
not read with confidence or that disagrees with the Patient: not confirmed, and the document
goes to review. Reasons carry no patient data.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from fhir_server.bundles.conditional import matching_ids
from fhir_server.errors import FhirError
from fhir_server.search.codes import CodeSets
from fhir_server.storage.repository import Repository
from ingestion.hl7v2.draft import identifier_query
from ingestion.labels.patient import MRN_TYPE
from ingestion.scans.pipeline import PageReading

MRN_SYSTEM = "https://abc-medical.example.org/fhir/sid/mrn"  # fhir_server/demo.py's


@dataclass(frozen=True, slots=True)
class PatientMatch:
    patient_id: str | None  # set only when confirmed
    reasons: tuple[str, ...] = ()


async def match_patient(
    repository: Repository, codes: CodeSets | None, mrn: str, pages: Sequence[PageReading]
) -> PatientMatch:
    found = await _by_mrn(repository, codes, mrn)
    if len(found) != 1:
        reason = "no Patient has this MRN" if not found else "several Patients have this MRN"
        return PatientMatch(None, (reason,))
    patient_id, resource = found[0]
    reasons = _disagreements(resource, pages)
    return PatientMatch(None if reasons else patient_id, tuple(reasons))


async def _by_mrn(
    repository: Repository, codes: CodeSets | None, mrn: str
) -> list[tuple[str, dict[str, Any]]]:
    # Any system (the search's escapes, without the "|" that would mean "no system"): the
    # type or system of each match is checked below.
    query = identifier_query({"value": mrn}).replace("identifier=%7C", "identifier=", 1)
    found = []
    for rid in await matching_ids(repository, "Patient", query, codes, limit=10):
        try:
            version = await repository.read("Patient", rid)
        except FhirError:
            continue
        if version.body is None:
            continue
        resource = orjson.loads(version.body)
        if any(_is_mrn(i, mrn) for i in resource.get("identifier", [])):
            found.append((rid, resource))
    return found


def _is_mrn(identifier: Any, mrn: str) -> bool:
    if not isinstance(identifier, dict) or identifier.get("value") != mrn:
        return False
    codings = (identifier.get("type") or {}).get("coding", [])
    typed = any((c.get("system"), c.get("code")) == MRN_TYPE for c in codings)
    return typed or identifier.get("system") == MRN_SYSTEM


def _disagreements(resource: dict[str, Any], pages: Sequence[PageReading]) -> list[str]:
    reasons: list[str] = []
    names = {_words(n) for n in _names(resource)}
    birth = resource.get("birthDate")
    for page in pages:
        assert page.decision is not None
        header = page.decision.header
        name, born = header.get("name"), header.get("birth_date")
        where = f"page {page.index + 1}"
        if name is None or not name.accepted or not isinstance(name.value, str):
            reasons.append(f"{where}: the name was not read with confidence")
        elif _words(name.value) not in names:
            reasons.append(f"{where}: the name differs from the Patient's")
        if born is None or not born.accepted or not isinstance(born.value, dt.date):
            reasons.append(f"{where}: the date of birth was not read with confidence")
        elif born.value.isoformat() != birth:
            reasons.append(f"{where}: the date of birth differs from the Patient's")
    return reasons


def _names(resource: dict[str, Any]) -> list[str]:
    found = []
    for name in resource.get("name", []):
        if isinstance(name, dict):
            given = " ".join(str(g) for g in name.get("given", []))
            found.append(f"{given} {name.get('family', '')}")
            if name.get("text"):
                found.append(str(name["text"]))
    return found


def _words(name: str) -> frozenset[str]:
    """Compared as a set of words, case and accents aside (OCR drops accents)."""
    plain = unicodedata.normalize("NFKD", name.casefold())
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return frozenset(plain.replace("-", " ").replace(",", " ").split())
