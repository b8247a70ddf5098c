"""``GET /Patient/{id}/$labels``: the PDF a clinic prints, read back as a scanner would."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.test_search import put
from tests.ingestion.labels.scan import read_pdf

MR = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}


@pytest.fixture
async def maria(client: httpx.AsyncClient) -> dict[str, Any]:
    patient = {
        "resourceType": "Patient", "id": "maria", "birthDate": "1985-07-03",
        "name": [{"use": "official", "family": "Jansen", "given": ["Maria"]}],
        "identifier": [{"system": "urn:oid:1.2.3", "value": "ignored"},
                       {"type": MR, "system": "urn:abc:mrn", "value": "ABC123"}],
    }  # fmt: skip
    await put(client, patient)
    return patient


@pytest.mark.usefixtures("maria")
async def test_label_carries_the_mrn_category_and_document(client: httpx.AsyncClient) -> None:
    params = {"category": "lab-results", "document": "D-42"}
    response = await client.get("Patient/maria/$labels", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    (page,) = read_pdf(response.content)
    assert page.codes["code128"] == "ABC123"
    assert page.codes["datamatrix"] == "MEDDOC:ABC123:lab-results:D-42"
    assert page.colour.category == "green"


@pytest.mark.usefixtures("maria")
async def test_cover_sheet(client: httpx.AsyncClient) -> None:
    params = {"category": "prescriptions", "kind": "cover"}
    response = await client.get("Patient/maria/$labels", params=params)
    assert response.status_code == 200, response.text
    (page,) = read_pdf(response.content)
    assert page.codes["qr"] == "MEDSEP:ABC123:prescriptions"


@pytest.mark.usefixtures("maria")
@pytest.mark.parametrize(
    ("url", "params", "status"),
    [
        ("Patient/maria/$labels", {"category": "no-such-category"}, 422),
        ("Patient/maria/$labels", {}, 400),  # category is required
        ("Patient/maria/$labels", {"category": "lab-results", "copies": "1000"}, 400),
        ("Patient/nobody/$labels", {"category": "lab-results"}, 404),
    ],
)
async def test_bad_label_requests(
    client: httpx.AsyncClient, url: str, params: dict[str, str], status: int
) -> None:
    response = await client.get(url, params=params)
    assert response.status_code == status, response.text
    assert response.json()["resourceType"] == "OperationOutcome"


async def test_a_patient_without_mrn_gets_no_label(client: httpx.AsyncClient) -> None:
    await put(client, {"resourceType": "Patient", "id": "anon", "birthDate": "1990-01-01"})
    response = await client.get("Patient/anon/$labels", params={"category": "lab-results"})
    assert response.status_code == 422
    assert "MR" in response.json()["issue"][0]["diagnostics"]
