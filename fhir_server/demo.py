"""A small, realistic demo data set for ABC Medical Center (fictional people), loaded by
`medrec demo` and `medrec serve --demo`. Fixed ids make loading idempotent."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from fhir_server.errors import Gone, NotFound
from fhir_server.storage.index_format import mark_if_fresh
from fhir_server.storage.repository import Repository

MRN = "https://abc-medical.example.org/fhir/sid/mrn"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
Resource = dict[str, Any]

_PATIENTS = [
    ("amina-hassan", "Hassan", ["Amina"], "female", "1968-04-12", "MRN-100231"),
    ("john-okafor", "Okafor", ["John", "Chidi"], "male", "1954-11-02", "MRN-100232"),
    ("maria-gonzalez", "González", ["María"], "female", "1990-07-23", "MRN-100233"),
    ("li-wei", "Li", ["Wei"], "male", "1979-01-30", "MRN-100234"),
    ("sofia-rossi", "Rossi", ["Sofia"], "female", "2012-09-05", "MRN-100235"),
]
# (code, display, value, unit, low, high)
_LABS = [
    ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "6.50", "%", "4.00", "5.60"),
    ("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "112", "mg/dL", "70", "99"),
    ("718-7", "Hemoglobin [Mass/volume] in Blood", "13.20", "g/dL", "12.00", "16.00"),
    ("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "4.10", "mmol/L", "3.50", "5.10"),
    ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "0.90", "mg/dL", "0.60", "1.20"),
]
_CONDITIONS = [
    ("44054006", "Diabetes mellitus type 2"),
    ("38341003", "Hypertensive disorder, systemic arterial"),
]


def demo_resources() -> Iterator[Resource]:
    yield {
        "resourceType": "Organization",
        "id": "abc-medical-center",
        "active": True,
        "name": "ABC Medical Center",
        "telecom": [{"system": "phone", "value": "+1-555-0100", "use": "work"}],
        "address": [{"line": ["1 Health Way"], "city": "Springfield", "country": "US"}],
    }
    for doctor_id, surname, first in (("dr-chen", "Chen", "Lucy"), ("dr-mensah", "Mensah", "Kofi")):
        yield {
            "resourceType": "Practitioner",
            "id": doctor_id,
            "active": True,
            "name": [{"family": surname, "given": [first], "prefix": ["Dr."]}],
        }
    for index, (pid, family, given, gender, birth, mrn) in enumerate(_PATIENTS):
        yield from _patient_record(index, pid, family, given, gender, birth, mrn)


def _patient_record(
    index: int, pid: str, family: str, given: list[str], gender: str, birth: str, mrn: str
) -> Iterator[Resource]:
    subject = {"reference": f"Patient/{pid}", "display": f"{' '.join(given)} {family}"}
    doctor = {"reference": "Practitioner/dr-chen" if index % 2 == 0 else "Practitioner/dr-mensah"}
    yield {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [
            {
                "use": "usual",
                "type": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}
                    ]
                },
                "system": MRN,
                "value": mrn,
            }
        ],
        "active": True,
        "name": [{"use": "official", "family": family, "given": given}],
        "gender": gender,
        "birthDate": birth,
        "managingOrganization": {"reference": "Organization/abc-medical-center"},
        "generalPractitioner": [doctor],
    }
    day = f"2026-0{index % 9 + 1}-1{index}"
    encounter_id = f"{pid}-visit-1"
    yield {
        "resourceType": "Encounter",
        "id": encounter_id,
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": subject,
        "participant": [{"individual": doctor}],
        "period": {"start": f"{day}T09:00:00Z", "end": f"{day}T09:30:00Z"},
        "serviceProvider": {"reference": "Organization/abc-medical-center"},
    }
    for code, display, value, unit, low, high in _LABS:
        yield {
            "resourceType": "Observation",
            "id": f"{pid}-{code}",
            "status": "final",
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "laboratory",
                        }
                    ]
                }
            ],
            "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
            "subject": subject,
            "encounter": {"reference": f"Encounter/{encounter_id}"},
            "effectiveDateTime": f"{day}T09:15:00Z",
            "valueQuantity": _quantity(value, unit),
            "referenceRange": [{"low": _quantity(low, unit), "high": _quantity(high, unit)}],
        }
    if index < len(_CONDITIONS):
        code, display = _CONDITIONS[index]
        yield {
            "resourceType": "Condition",
            "id": f"{pid}-condition-1",
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "code": "active",
                    }
                ]
            },
            "code": {"coding": [{"system": SNOMED, "code": code, "display": display}]},
            "subject": subject,
            "onsetDateTime": "2019-03-01",
        }
    yield {
        "resourceType": "DocumentReference",
        "id": f"{pid}-scan-1",
        "status": "current",
        "type": {
            "coding": [{"system": LOINC, "code": "34117-2", "display": "History and physical note"}]
        },
        "subject": subject,
        "date": f"{day}T10:00:00Z",
        "content": [
            {
                "attachment": {
                    "contentType": "image/png",
                    "title": "Scanned history and physical (paper record)",
                }
            }
        ],
    }


def _quantity(value: str, unit: str) -> Resource:
    return {"value": Decimal(value), "unit": unit, "system": UCUM, "code": unit}


async def load_demo(repository: Repository) -> int:
    """Load what is missing; return how many resources were created."""
    await mark_if_fresh(repository.collections)
    created = 0
    for resource in demo_resources():
        try:
            await repository.read(resource["resourceType"], resource["id"])
        except NotFound:
            await repository.update(resource, resource["resourceType"], resource["id"])
            created += 1
        except Gone:
            continue  # deleted on purpose: leave it deleted
    return created
