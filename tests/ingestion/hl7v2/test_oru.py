"""ORU^R01 → Patient, Encounter, ServiceRequest, DiagnosticReport, Observation, Specimen."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ingestion.hl7v2.receive import Receiver
from tests.ingestion.hl7v2 import corpus
from tests.ingestion.hl7v2.support import counts, resources

UCUM = "http://unitsofmeasure.org"


def _by_code(observations: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["code"]["coding"][0]["code"]: o for o in observations}


async def test_cbc_panel(receiver: Receiver) -> None:
    received = await receiver.receive(corpus.oru("CBC1", corpus.CBC).encode())
    assert received.outcome == "A", received.error
    found = await counts(
        receiver, "Patient", "Encounter", "ServiceRequest", "DiagnosticReport", "Observation",
        "Specimen", "Provenance", "Binary",
    )  # fmt: skip
    assert found == {
        "Patient": 1, "Encounter": 1, "ServiceRequest": 1, "DiagnosticReport": 1,
        "Observation": 10, "Specimen": 1, "Provenance": 1, "Binary": 1,
    }  # fmt: skip
    (patient,) = await resources(receiver, "Patient")
    assert patient["identifier"][0] == {
        "value": "MRN1001",
        "system": "urn:oid:1.2.3.4.5",
        "type": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]
        },
    }
    assert patient["name"][0] == {
        "family": "Müller", "given": ["Anna", "Maria"], "prefix": ["Dr"], "use": "official",
    }  # fmt: skip
    assert patient["birthDate"] == "1980-02-15" and patient["gender"] == "female"
    assert patient["address"][0]["line"] == ["Hauptstraße 5", "Apt 2"]
    assert {"system": "email", "value": "anna@example.org"} in patient["telecom"]

    observations = _by_code(await resources(receiver, "Observation"))
    wbc = observations["6690-2"]
    assert wbc["status"] == "final"
    assert wbc["code"]["coding"][0]["system"] == "http://loinc.org"
    assert wbc["valueQuantity"] == {
        "value": 11.8,
        "unit": "10*3/uL",
        "system": UCUM,
        "code": "10*3/uL",
    }
    assert wbc["referenceRange"][0]["low"]["value"] == 4.0
    assert wbc["referenceRange"][0]["high"]["value"] == 10.5
    assert wbc["interpretation"][0]["coding"][0]["code"] == "H"
    assert wbc["effectiveDateTime"] == "2024-03-01T08:30:00+01:00"
    assert wbc["note"] == [{"text": "Repeat A confirmed\nsecond line"}]
    assert observations["777-3"]["interpretation"][0]["coding"][0]["code"] == "LL"
    comment = observations["PLTCMT"]
    assert comment["valueString"] == "Clumped & verified\nby smear"
    assert comment["code"]["coding"][0]["system"] == "urn:medrec:hl7v2:system:99LAB"

    (report,) = await resources(receiver, "DiagnosticReport")
    assert report["status"] == "final"
    assert report["code"]["coding"][0]["code"] == "58410-2"
    assert report["effectiveDateTime"] == "2024-03-01T08:00:00+01:00"
    assert report["issued"] == "2024-03-01T10:10:00+01:00"
    assert len(report["result"]) == 10
    subject = report["subject"]["reference"]
    assert subject == f"Patient/{patient['id']}"
    assert all(o["subject"]["reference"] == subject for o in observations.values())
    (order,) = await resources(receiver, "ServiceRequest")
    assert order["status"] == "completed" and order["note"] == [
        {"text": "Sample received \n on ice"}
    ]
    assert report["basedOn"] == [{"reference": f"ServiceRequest/{order['id']}"}]
    (specimen,) = await resources(receiver, "Specimen")
    assert specimen["type"]["coding"][0]["system"] == "http://snomed.info/sct"
    assert specimen["collection"]["collectedDateTime"] == "2024-03-01T08:00:00+01:00"
    assert report["specimen"] == [{"reference": f"Specimen/{specimen['id']}"}]
    (encounter,) = await resources(receiver, "Encounter")
    assert encounter["identifier"][0]["value"] == "V5001"
    assert wbc["encounter"] == {"reference": f"Encounter/{encounter['id']}"}


async def test_metabolic_panel_units_and_values(receiver: Receiver) -> None:
    received = await receiver.receive(corpus.oru("BMP1", corpus.METABOLIC).encode())
    assert received.outcome == "A", received.error
    observations = _by_code(await resources(receiver, "Observation"))
    # printed units read through UCUM
    assert observations["2345-7"]["valueQuantity"]["code"] == "mg/dL"
    assert observations["2345-7"]["valueQuantity"]["unit"] == "mg/dl"
    assert observations["2823-3"]["interpretation"][0]["coding"][0]["code"] == "HH"
    egfr = observations["GFRE"]["valueQuantity"]
    assert egfr["comparator"] == ">" and egfr["value"] == 90
    assert egfr["code"] == "mL/min/{1.73_m2}"
    assert observations["GFRE"]["referenceRange"][0] == {
        "low": {"value": 60, "unit": "mL/min/{1.73_m2}", "system": UCUM, "code": "mL/min/{1.73_m2}"}
    }
    hemolysis = observations["HEMOL"]["valueCodeableConcept"]
    assert hemolysis["coding"][0]["code"] == "N" and hemolysis["text"] == "None"


async def test_lipid_panel_structured_numerics(receiver: Receiver) -> None:
    received = await receiver.receive(corpus.oru("LIP1", corpus.LIPID).encode())
    assert received.outcome == "A", received.error
    observations = _by_code(await resources(receiver, "Observation"))
    assert observations["9830-1"]["valueRatio"] == {
        "numerator": {"value": 5.6}, "denominator": {"value": 1},
    }  # fmt: skip
    lpa = observations["LPA"]["valueQuantity"]
    assert lpa["comparator"] == "<" and lpa["value"] == 5
    non_hdl = observations["NONHDL"]["valueRange"]
    assert non_hdl["low"]["value"] == 170 and non_hdl["high"]["value"] == 175
    assert observations["2093-3"]["referenceRange"][0]["high"]["value"] == 200
    assert observations["2085-9"]["referenceRange"][0]["low"]["value"] == 40
    assert observations["FAST"]["valueString"] == "Yes"
    # local codes gain the LOINC coding the lab test matcher is sure of, by name and unit
    assert observations["LPA"]["code"]["coding"][1]["code"] == "10835-7"
    assert observations["NONHDL"]["code"]["coding"][1]["code"] == "43396-1"
    assert len(observations["FAST"]["code"]["coding"]) == 1  # no test of that name
    assert observations["COMM"]["valueString"] == "Pt fasting 12h\nRatio | risk ^ high"


async def test_an_existing_patient_is_matched_not_created_again(receiver: Receiver) -> None:
    for control in ("P1", "P2", "P3"):
        received = await receiver.receive(corpus.oru(control, order=control).encode())
        assert received.outcome == "A", received.error
    other = await receiver.receive(corpus.oru("P4", mrn="MRN2002", order="P4").encode())
    assert other.outcome == "A"
    found = await counts(receiver, "Patient", "DiagnosticReport", "Encounter")
    assert found == {"Patient": 2, "DiagnosticReport": 4, "Encounter": 1}


async def test_decimal_digits_are_kept(receiver: Receiver) -> None:
    panel = [corpus.Test("2951-2", "Sodium", "LN", "NM", "139.50", "mmol/L", "", "")]
    assert (await receiver.receive(corpus.oru("DEC1", panel).encode())).outcome == "A"
    (observation,) = await resources(receiver, "Observation")
    assert Decimal(str(observation["valueQuantity"]["value"])) == Decimal("139.5")


async def test_provenance_keeps_the_raw_message(receiver: Receiver) -> None:
    raw = corpus.oru("PROV1").encode()
    assert (await receiver.receive(raw)).outcome == "A"
    (binary,) = await resources(receiver, "Binary")
    (provenance,) = await resources(receiver, "Provenance")
    import base64

    assert base64.b64decode(binary["data"]) == raw
    assert binary["contentType"] == "x-application/hl7-v2+er7"
    assert provenance["entity"][0]["what"]["reference"] == f"Binary/{binary['id']}"
    targets = {t["reference"].split("/")[0] for t in provenance["target"]}
    assert targets == {
        "Patient", "Encounter", "ServiceRequest", "DiagnosticReport", "Observation", "Specimen",
    }  # fmt: skip
    assert provenance["agent"][0]["who"]["display"] == "LABSYS GOODHEALTH"


async def test_times_without_offset_are_in_the_senders_zone(receiver: Receiver) -> None:
    text = corpus.oru("TZ1").replace("20240301101500+0100", "20240301101500-0500", 1)
    text = text.replace("|20240301083000+0100", "|20240301083000")  # OBX-14 without offset
    assert (await receiver.receive(text.encode())).outcome == "A"
    observations = _by_code(await resources(receiver, "Observation"))
    assert observations["6690-2"]["effectiveDateTime"] == "2024-03-01T08:30:00-05:00"
