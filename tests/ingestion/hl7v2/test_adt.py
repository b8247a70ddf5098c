"""ADT A01/A04/A08 upsert Patient and Encounter, A03 ends the Encounter, A40 merges."""

from __future__ import annotations

from ingestion.hl7v2.receive import Receiver
from tests.ingestion.hl7v2 import corpus
from tests.ingestion.hl7v2.support import counts, resources, segment


async def test_admit_then_update_then_discharge(receiver: Receiver) -> None:
    admit = await receiver.receive(corpus.adt("A01", "ADT1").encode())
    assert admit.outcome == "A", admit.error
    (patient,) = await resources(receiver, "Patient")
    (encounter,) = await resources(receiver, "Encounter")
    assert patient["active"] is True
    assert patient["contact"][0]["name"] == {"family": "Müller", "given": ["Hans"]}
    assert patient["contact"][0]["relationship"][0]["coding"][0]["code"] == "SPO"
    assert encounter["status"] == "in-progress" and encounter["class"]["code"] == "IMP"
    assert encounter["period"] == {"start": "2024-03-01T09:00:00+01:00"}
    assert encounter["subject"] == {"reference": f"Patient/{patient['id']}"}

    update = await receiver.receive(corpus.adt("A08", "ADT2", family="Schmidt").encode())
    assert update.outcome == "A", update.error
    (patient2,) = await resources(receiver, "Patient")
    assert patient2["id"] == patient["id"] and patient2["name"][0]["family"] == "Schmidt"
    assert patient2["meta"]["versionId"] == "2"

    discharge = await receiver.receive(corpus.adt("A03", "ADT3").encode())
    assert discharge.outcome == "A", discharge.error
    (ended,) = await resources(receiver, "Encounter")
    assert ended["id"] == encounter["id"] and ended["status"] == "finished"
    assert ended["period"]["end"] == "2024-03-05T12:00:00+01:00"


async def test_register_creates_patient_and_visit(receiver: Receiver) -> None:
    received = await receiver.receive(corpus.adt("A04", "REG1", mrn="MRN3003").encode())
    assert received.outcome == "A", received.error
    assert await counts(receiver, "Patient", "Encounter") == {"Patient": 1, "Encounter": 1}
    (encounter,) = await resources(receiver, "Encounter")
    assert encounter["status"] == "arrived"


async def test_merge_retires_the_losing_patient(receiver: Receiver) -> None:
    for control, mrn in (("M1", "MRN-KEEP"), ("M2", "MRN-LOSE")):
        assert (
            await receiver.receive(corpus.adt("A04", control, mrn=mrn, visit=control).encode())
        ).outcome == "A"
    merged = await receiver.receive(
        corpus.merge("M3", survivor="MRN-KEEP", losing="MRN-LOSE").encode()
    )
    assert merged.outcome == "A", merged.error
    patients = {p["identifier"][0]["value"]: p for p in await resources(receiver, "Patient")}
    kept, lost = patients["MRN-KEEP"], patients["MRN-LOSE"]
    assert lost["active"] is False
    assert lost["link"] == [
        {"other": {"reference": f"Patient/{kept['id']}"}, "type": "replaced-by"}
    ]
    assert lost["name"][0]["family"] == "Müller"  # the rest of the record is kept
    assert kept["link"] == [{"other": {"reference": f"Patient/{lost['id']}"}, "type": "replaces"}]


async def test_merge_of_an_unknown_patient_is_an_error(receiver: Receiver) -> None:
    merged = await receiver.receive(
        corpus.merge("M9", survivor="MRN-A", losing="MRN-NONE").encode()
    )
    assert merged.outcome == "E"
    assert segment(merged.ack, "ERR")[2] == "MRG^1^1^1"
    assert segment(merged.ack, "ERR")[3].startswith("204^")
    assert await counts(receiver, "Patient") == {"Patient": 0}


async def test_discharge_without_visit_number_is_an_error(receiver: Receiver) -> None:
    text = corpus.adt("A03", "NOVISIT").replace("V5001^^^HOSP&1.2.3.4.5&ISO^VN", "")
    received = await receiver.receive(text.encode())
    assert received.outcome == "E"
    assert segment(received.ack, "ERR")[2] == "PV1^1^19^1"
    assert await counts(receiver, "Patient", "Encounter") == {"Patient": 0, "Encounter": 0}
