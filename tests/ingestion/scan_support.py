"""Synthetic scans for the ingestion tests (commit, jobs, API), and their patient."""

from __future__ import annotations

import hashlib
import random
from typing import Any

from fhir_server.storage.repository import Repository
from ingestion.scans import synthetic
from ingestion.scans.patient import MRN_SYSTEM

MRN = "55515067"


def lab_page(seed: int = 11, mrn: str = MRN, preset: str = "clean") -> synthetic.SyntheticPage:
    """A lab report page in green, for patient ``mrn``; ``preset``: its degradation (clean: a
    PNG, every lab row of which is committed automatically)."""
    degradation = synthetic.degradation(preset, random.Random(seed))
    spec = synthetic.PageSpec(seed=seed, colour="green", degradation=degradation, mrn=mrn)
    return synthetic.page(spec)


def lab_page_with_review() -> synthetic.SyntheticPage:
    """A noisy lab page: its header and eleven of its twelve lab rows are read with certainty,
    one unit is not (a review Task)."""
    return lab_page(11, preset="noisy")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def patient_resource(truth: synthetic.PageTruth, **changes: Any) -> dict[str, Any]:
    assert truth.birth_date is not None
    mr = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}
    given, family = truth.name.split(" ", 1)
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": [{"type": mr, "system": MRN_SYSTEM, "value": truth.mrn}],
        "name": [{"family": family, "given": [given]}],
        "birthDate": truth.birth_date.isoformat(),
    }
    return {**resource, **changes}


async def add_patient(repository: Repository, truth: synthetic.PageTruth, **changes: Any) -> str:
    version = await repository.create(patient_resource(truth, **changes), "Patient")
    return version.id
