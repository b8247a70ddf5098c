"""Site content stored through the FHIR API (real database), layered over the bundled content."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from terminology.stored import StoredContent, load_stored_content, site_service
from tests.terminology.support import CATEGORY_CS, COLOUR_CS, MEDREC, terminology_app

SITE_CS = "http://example.org/fhir/CodeSystem/clinic-tests"
COLOUR_MAP = f"{MEDREC}/ConceptMap/colour-to-record-category"


def clinic_code_system() -> dict[str, Any]:
    return {
        "resourceType": "CodeSystem",
        "url": SITE_CS,
        "status": "active",
        "content": "complete",
        "concept": [{"code": "ABC", "display": "Clinic panel ABC"}],
    }


def clinic_colour_map() -> dict[str, Any]:
    return {
        "resourceType": "ConceptMap",
        "url": COLOUR_MAP,
        "status": "active",
        "group": [
            {
                "source": COLOUR_CS,
                "target": CATEGORY_CS,
                "element": [
                    {
                        "code": "orange",
                        "target": [{"code": "referral", "equivalence": "equivalent"}],
                    },
                    {
                        "code": "red",
                        "target": [{"code": "lab-results", "equivalence": "equivalent"}],
                    },
                ],
            }
        ],
    }


async def test_stored_resources_are_used_and_take_precedence(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    created = await client.post("CodeSystem", json=clinic_code_system())
    assert created.status_code == 201, created.text
    cs_id = created.json()["id"]
    assert (await client.post("ConceptMap", json=clinic_colour_map())).status_code == 201
    stored = await load_stored_content(app.state.services.repository)
    service = site_service(stored)

    assert service.lookup(SITE_CS, "ABC").display == "Clinic panel ABC"
    red = service.translate(COLOUR_CS, "red", url=COLOUR_MAP).first()
    assert red is not None and red.code == "lab-results"  # the clinic's colours, not the default
    assert service.lookup("http://loinc.org", "718-7").display  # bundled content still there

    # over HTTP too, instance level by the stored id
    transport = httpx.ASGITransport(app=terminology_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://t/fhir/") as http:
        response = await http.get(f"CodeSystem/{cs_id}/$lookup", params={"code": "ABC"})
        assert response.status_code == 200, response.text

    # the write path keeps the content current
    assert (await client.delete(f"CodeSystem/{cs_id}")).status_code in (200, 204)
    stored.deleted("CodeSystem", cs_id)
    assert service.source.code_system(SITE_CS) is None
    reloaded = await load_stored_content(app.state.services.repository)
    assert reloaded.code_system(SITE_CS) is None  # deleted resources are not loaded


def test_written_and_deleted_hooks() -> None:
    stored = StoredContent()
    stored.written({**clinic_code_system(), "id": "one"})
    assert stored.code_system(SITE_CS) is not None
    stored.written({"resourceType": "CodeSystem", "id": "one", "status": "active"})  # url dropped
    assert stored.code_system(SITE_CS) is None
    stored.written({"resourceType": "Patient", "id": "p"})  # not terminology: ignored
    stored.deleted("Patient", "p")
