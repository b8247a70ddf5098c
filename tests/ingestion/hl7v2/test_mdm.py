"""MDM^T02 → DocumentReference with text, base64 PDF and URL content, linked to the Patient."""

from __future__ import annotations

import base64

from ingestion.hl7v2.receive import Receiver
from tests.ingestion.hl7v2 import corpus
from tests.ingestion.hl7v2.support import resources, segment


async def test_document_with_text_pdf_and_link(receiver: Receiver) -> None:
    received = await receiver.receive(corpus.mdm("DOC1").encode())
    assert received.outcome == "A", received.error
    (document,) = await resources(receiver, "DocumentReference")
    (patient,) = await resources(receiver, "Patient")
    assert document["subject"] == {"reference": f"Patient/{patient['id']}"}
    assert document["status"] == "current" and document["docStatus"] == "final"
    assert document["type"]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/v2-0270", "code": "DS",
    }  # fmt: skip
    assert document["masterIdentifier"]["value"] == "DOC778"
    assert document["date"] == "2024-03-01T10:00:00+01:00"
    text, pdf, link = (c["attachment"] for c in document["content"])
    assert base64.b64decode(text["data"]).decode() == "Discharged home\nFollow-up & labs"
    assert text["contentType"].startswith("text/plain")
    assert pdf["contentType"] == "application/pdf"
    assert base64.b64decode(pdf["data"]) == corpus.PDF
    assert link == {"title": "Imaging report", "url": "https://pacs.example.org/r/1"}
    (encounter,) = await resources(receiver, "Encounter")
    assert document["context"]["encounter"] == [{"reference": f"Encounter/{encounter['id']}"}]


async def test_bad_base64_is_an_error_and_nothing_is_written(receiver: Receiver) -> None:
    text = corpus.mdm("DOC2").replace("^Base64^", "^Base64^not*base64")
    received = await receiver.receive(text.encode())
    assert received.outcome == "E"
    assert segment(received.ack, "ERR")[2] == "OBX^2^5^1"
    assert await resources(receiver, "DocumentReference") == []
    assert await resources(receiver, "Patient") == []
