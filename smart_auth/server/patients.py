"""The patient picker's look-ups, through the repository and the search engine like any other
FHIR search. They run for a logged-in practitioner, admin or staff member (never a patient:
their context is their own record), outside the FHIR routes' enforcement: on the app's own
repository."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from fhir_server.errors import FhirError
from fhir_server.search.definitions import params_of_type
from fhir_server.search.parse import parse_search
from fhir_server.search.plan import plan
from fhir_server.storage.repository import Repository

PICKER_SIZE = 20


def app_repository(request: Request) -> Repository:
    repository: Repository = request.app.state.services.repository
    return repository


def _label(resource: dict[str, Any]) -> str:
    names = resource.get("name") or [{}]
    name = names[0] if isinstance(names[0], dict) else {}
    given = " ".join(str(g) for g in name.get("given", []))
    family = str(name.get("family", ""))
    text = str(name.get("text") or f"{given} {family}".strip() or "(no name)")
    born = resource.get("birthDate")
    return f"{text}, born {born}" if born else text


async def find_patients(repository: Repository, name: str) -> list[tuple[str, str]]:
    """(id, label) of the first patients whose name matches."""
    search = parse_search(
        "Patient",
        [("name", name)],
        params_of_type,
        strict=False,
        default_count=PICKER_SIZE,
        max_count=PICKER_SIZE,
    )
    query = await plan(search, repository)
    page = await repository.search("Patient", query.queries, query.sort, PICKER_SIZE, None)
    return [(v.id, _label(orjson.loads(v.body))) for v in page.versions if v.body is not None]


async def patient_exists(repository: Repository, patient_id: str) -> bool:
    try:
        await repository.read("Patient", patient_id)
    except (FhirError, ValueError):
        return False
    return True
