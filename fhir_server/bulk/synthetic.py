"""Synthea-shaped test data: one patient's record as a FHIR R4 transaction Bundle.

Like a Synthea export, the bundle holds one Patient and a history of encounters, each with the
resources recorded during it (vital signs, lab panels with their DiagnosticReport, conditions,
procedures, prescriptions, immunizations, allergies, care plans), every entry a ``POST`` with a
``urn:uuid`` fullUrl that the other entries reference. References only ever point to earlier
entries, so cutting the bundle at any size keeps it whole.

Deterministic (the same seed and size give the same bundle) and valid for medrec: codes bound
with strength *required* come from their value sets. Used by the tests and ``bench/ingest.py``;
the data is invented, never derived from a real person.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

JsonObject = dict[str, Any]

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CVX = "http://hl7.org/fhir/sid/cvx"
UCUM = "http://unitsofmeasure.org"
SYNTHEA_ID = "https://github.com/synthetichealth/synthea"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
ENCOUNTER_CLASS = "http://terminology.hl7.org/CodeSystem/v3-ActCode"

GIVEN = ("Ana", "Jonas", "Mila", "Pieter", "Fatima", "Wei", "Priya", "Lucas", "Elif", "Noah")
FAMILY = ("Jansen", "Garcia", "Nowak", "Kim", "Haddad", "Rossi", "Larsen", "Patel", "Dubois")
CITIES = (("Utrecht", "NL"), ("Boston", "US"), ("Lyon", "FR"), ("Gent", "BE"))

# (LOINC code, display, UCUM unit, low, high, decimals)
VITALS = (
    ("8302-2", "Body Height", "cm", 150.0, 195.0, 1),
    ("29463-7", "Body Weight", "kg", 48.0, 120.0, 1),
    ("39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", 18.0, 38.0, 1),
    ("8867-4", "Heart rate", "/min", 55.0, 100.0, 0),
    ("9279-1", "Respiratory rate", "/min", 12.0, 20.0, 0),
    ("8310-5", "Body temperature", "Cel", 36.1, 37.9, 1),
)
BLOOD_PRESSURE = ("85354-9", "Blood pressure panel with all children optional")
SYSTOLIC = ("8480-6", "Systolic blood pressure", 105.0, 165.0)
DIASTOLIC = ("8462-4", "Diastolic blood pressure", 60.0, 100.0)
# (report LOINC code, display, its results as (code, display, UCUM unit, low, high, decimals))
PANELS = (
    (
        "24323-8",
        "Comprehensive metabolic 2000 panel - Serum or Plasma",
        (
            ("2339-0", "Glucose [Mass/volume] in Blood", "mg/dL", 70.0, 160.0, 0),
            ("3094-0", "Urea nitrogen [Mass/volume] in Serum or Plasma", "mg/dL", 7.0, 20.0, 1),
            ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", 0.6, 1.3, 2),
            ("17861-6", "Calcium [Mass/volume] in Serum or Plasma", "mg/dL", 8.5, 10.5, 1),
            ("2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", 135.0, 145.0, 0),
            ("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", 3.5, 5.1, 1),
            ("2075-0", "Chloride [Moles/volume] in Serum or Plasma", "mmol/L", 98.0, 107.0, 0),
        ),
    ),
    (
        "58410-2",
        "CBC panel - Blood by Automated count",
        (
            ("6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10*3/uL", 4.0,
             11.0, 1),
            ("789-8", "Erythrocytes [#/volume] in Blood by Automated count", "10*6/uL", 4.2,
             5.9, 2),
            ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 12.0, 17.0, 1),
            ("4544-3", "Hematocrit [Volume Fraction] of Blood by Automated count", "%", 36.0,
             50.0, 1),
            ("777-3", "Platelets [#/volume] in Blood by Automated count", "10*3/uL", 150.0,
             400.0, 0),
        ),
    ),
    (
        "57698-3",
        "Lipid panel with direct LDL - Serum or Plasma",
        (
            ("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL", 120.0, 280.0, 0),
            ("2571-8", "Triglyceride [Mass/volume] in Serum or Plasma", "mg/dL", 50.0, 300.0, 0),
            ("18262-6", "Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay",
             "mg/dL", 50.0, 190.0, 0),
            ("2085-9", "Cholesterol in HDL [Mass/volume] in Serum or Plasma", "mg/dL", 30.0,
             90.0, 0),
        ),
    ),
)  # fmt: skip
ENCOUNTER_TYPES = (
    ("185349003", "Encounter for check up (procedure)", "AMB"),
    ("185345009", "Encounter for symptom (procedure)", "AMB"),
    ("50849002", "Emergency room admission (procedure)", "EMER"),
)
CONDITIONS = (
    ("44054006", "Diabetes mellitus type 2 (disorder)"),
    ("38341003", "Hypertensive disorder, systemic arterial (disorder)"),
    ("195662009", "Acute viral pharyngitis (disorder)"),
    ("10509002", "Acute bronchitis (disorder)"),
    ("55822004", "Hyperlipidemia (disorder)"),
    ("162864005", "Body mass index 30+ - obesity (finding)"),
)
PROCEDURES = (
    ("430193006", "Medication reconciliation (procedure)"),
    ("171207006", "Depression screening (procedure)"),
    ("710824005", "Assessment of health and social care needs (procedure)"),
    ("23426006", "Measurement of respiratory function (procedure)"),
)
MEDICATIONS = (
    ("860975", "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet"),
    ("314076", "lisinopril 10 MG Oral Tablet"),
    ("197361", "amlodipine 5 MG Oral Tablet"),
    ("310798", "Hydrochlorothiazide 25 MG Oral Tablet"),
    ("313782", "Acetaminophen 325 MG Oral Tablet"),
)
VACCINES = (
    ("140", "Influenza, seasonal, injectable, preservative free"),
    ("113", "Td (adult) preservative free"),
    ("133", "Pneumococcal conjugate PCV 13"),
    ("208", "SARS-COV-2 (COVID-19) vaccine, mRNA, spike protein, LNP, preservative free"),
)
# (SNOMED code, display, AllergyIntolerance.category)
ALLERGIES = (
    ("300913006", "Shellfish (substance)", "food"),
    ("7980", "Penicillin G", "medication"),
    ("419474003", "Allergy to mould (finding)", "environment"),
)
CARE_PLANS = (
    ("698360004", "Diabetes self management plan"),
    ("736285004", "Hyperlipidemia clinical management plan"),
    ("443402002", "Lifestyle education regarding hypertension (procedure)"),
)

MIN_ENTRIES = 2  # the Patient and at least one other entry


def patient_bundle(seed: int, entries: int = 500) -> JsonObject:
    """A transaction Bundle of exactly ``entries`` entries for one patient."""
    if entries < MIN_ENTRIES:
        raise ValueError(f"a patient bundle has at least {MIN_ENTRIES} entries")
    record = _Record(random.Random(seed))  # noqa: S311  (test data: reproducible, not secret)
    items: list[JsonObject] = []
    for item in record.entries():
        items.append(item)
        if len(items) == entries:
            break
    return {"resourceType": "Bundle", "type": "transaction", "entry": items}


def patient_bundles(count: int, entries: int, seed: int = 0) -> Iterator[JsonObject]:
    """``count`` patients' bundles (seeds ``seed``, ``seed + 1``, ...)."""
    for number in range(count):
        yield patient_bundle(seed + number, entries)


class _Record:
    """One patient's history, produced entry by entry."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.born = datetime(1940, 1, 1, tzinfo=UTC) + timedelta(days=rng.randrange(60 * 365))
        self.when = max(self.born + timedelta(days=18 * 365), datetime(2000, 1, 1, tzinfo=UTC))
        self.patient_url = self._url()
        self.conditions: list[str] = []  # fullUrls of the active conditions

    def _url(self) -> str:
        return f"urn:uuid:{uuid.UUID(int=self.rng.getrandbits(128), version=4)}"

    def _entry(self, resource: JsonObject, url: str | None = None) -> JsonObject:
        return {
            "fullUrl": url or self._url(),
            "resource": resource,
            "request": {"method": "POST", "url": resource["resourceType"]},
        }

    def _patient_ref(self) -> JsonObject:
        return {"reference": self.patient_url}

    def entries(self) -> Iterator[JsonObject]:
        yield self._entry(self._patient(), self.patient_url)
        while True:  # the caller stops at the size it wants
            self.when += timedelta(days=self.rng.randrange(20, 200), hours=self.rng.randrange(9))
            yield from self._encounter()

    def _patient(self) -> JsonObject:
        rng = self.rng
        city, country = rng.choice(CITIES)
        mrn = f"{rng.randrange(10**8):08d}"
        return {
            "resourceType": "Patient",
            "identifier": [
                {"system": SYNTHEA_ID, "value": self.patient_url.removeprefix("urn:uuid:")},
                {
                    "use": "usual",
                    "type": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                "code": "MR",
                                "display": "Medical Record Number",
                            }
                        ]
                    },
                    "system": "http://hospital.smarthealthit.org",
                    "value": mrn,
                },
            ],
            "name": [
                {"use": "official", "family": rng.choice(FAMILY), "given": [rng.choice(GIVEN)]}
            ],
            "telecom": [
                {"system": "phone", "value": f"555-{rng.randrange(10**4):04d}", "use": "home"}
            ],
            "gender": rng.choice(("female", "male")),
            "birthDate": self.born.date().isoformat(),
            "address": [
                {
                    "use": "home",
                    "line": [f"{rng.randrange(1, 999)} Main Street"],
                    "city": city,
                    "country": country,
                }
            ],
        }

    def _encounter(self) -> Iterator[JsonObject]:
        rng = self.rng
        code, display, klass = rng.choice(ENCOUNTER_TYPES)
        start = self.when
        url = self._url()
        yield self._entry(
            {
                "resourceType": "Encounter",
                "status": "finished",
                "class": {"system": ENCOUNTER_CLASS, "code": klass},
                "type": [_concept(SNOMED, code, display)],
                "subject": self._patient_ref(),
                "period": {"start": _instant(start), "end": _instant(start + timedelta(hours=1))},
            },
            url,
        )
        context = {"encounter": {"reference": url}}
        yield from self._vitals(context)
        if rng.random() < 0.8:
            yield from self._panel(rng.choice(PANELS), context)
        if rng.random() < 0.3:
            yield self._condition(context)
        if rng.random() < 0.5:
            yield self._procedure(context)
        if rng.random() < 0.4:
            yield self._medication(context)
        if rng.random() < 0.25:
            yield self._immunization(context)
        if rng.random() < 0.05:
            yield self._allergy()
        if rng.random() < 0.1:
            yield self._care_plan(context)

    def _observation(
        self, category: str, code: str, display: str, context: JsonObject, **value: Any
    ) -> JsonObject:
        return {
            "resourceType": "Observation",
            "status": "final",
            "category": [_concept(OBSERVATION_CATEGORY, category, category.replace("-", " "))],
            "code": _concept(LOINC, code, display),
            "subject": self._patient_ref(),
            **context,
            "effectiveDateTime": _instant(self.when),
            "issued": _instant(self.when),
            **value,
        }

    def _quantity(self, unit: str, low: float, high: float, decimals: int) -> JsonObject:
        value = round(self.rng.uniform(low, high), decimals)
        number: float | int = value if decimals else int(value)
        return {"value": number, "unit": unit, "system": UCUM, "code": unit}

    def _vitals(self, context: JsonObject) -> Iterator[JsonObject]:
        for code, display, unit, low, high, decimals in VITALS:
            quantity = self._quantity(unit, low, high, decimals)
            yield self._entry(
                self._observation("vital-signs", code, display, context, valueQuantity=quantity)
            )
        components = [
            {
                "code": _concept(LOINC, code, name),
                "valueQuantity": self._quantity("mm[Hg]", low, high, 0),
            }
            for code, name, low, high in (SYSTOLIC, DIASTOLIC)
        ]
        code, display = BLOOD_PRESSURE
        yield self._entry(
            self._observation("vital-signs", code, display, context, component=components)
        )

    def _panel(self, panel: Any, context: JsonObject) -> Iterator[JsonObject]:
        report_code, report_display, tests = panel
        results = []
        for code, display, unit, low, high, decimals in tests:
            url = self._url()
            quantity = self._quantity(unit, low, high, decimals)
            observation = self._observation(
                "laboratory", code, display, context, valueQuantity=quantity
            )
            yield self._entry(observation, url)
            results.append({"reference": url, "display": display})
        yield self._entry(
            {
                "resourceType": "DiagnosticReport",
                "status": "final",
                "category": [_concept("http://terminology.hl7.org/CodeSystem/v2-0074", "LAB")],
                "code": _concept(LOINC, report_code, report_display),
                "subject": self._patient_ref(),
                **context,
                "effectiveDateTime": _instant(self.when),
                "issued": _instant(self.when + timedelta(hours=4)),
                "result": results,
            }
        )

    def _condition(self, context: JsonObject) -> JsonObject:
        code, display = self.rng.choice(CONDITIONS)
        url = self._url()
        clinical = "active" if code in ("44054006", "38341003", "55822004") else "resolved"
        condition: JsonObject = {
            "resourceType": "Condition",
            "clinicalStatus": _concept(
                "http://terminology.hl7.org/CodeSystem/condition-clinical", clinical
            ),
            "verificationStatus": _concept(
                "http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed"
            ),
            "category": [
                _concept(
                    "http://terminology.hl7.org/CodeSystem/condition-category",
                    "encounter-diagnosis",
                )
            ],
            "code": _concept(SNOMED, code, display),
            "subject": self._patient_ref(),
            **context,
            "onsetDateTime": _instant(self.when),
            "recordedDate": _instant(self.when),
        }
        if clinical == "resolved":
            condition["abatementDateTime"] = _instant(self.when + timedelta(days=10))
        else:
            self.conditions.append(url)
        return self._entry(condition, url)

    def _procedure(self, context: JsonObject) -> JsonObject:
        code, display = self.rng.choice(PROCEDURES)
        end = self.when + timedelta(minutes=15)
        return self._entry(
            {
                "resourceType": "Procedure",
                "status": "completed",
                "code": _concept(SNOMED, code, display),
                "subject": self._patient_ref(),
                **context,
                "performedPeriod": {"start": _instant(self.when), "end": _instant(end)},
            }
        )

    def _medication(self, context: JsonObject) -> JsonObject:
        code, display = self.rng.choice(MEDICATIONS)
        return self._entry(
            {
                "resourceType": "MedicationRequest",
                "status": self.rng.choice(("active", "completed", "stopped")),
                "intent": "order",
                "medicationCodeableConcept": _concept(RXNORM, code, display),
                "subject": self._patient_ref(),
                **context,
                "authoredOn": _instant(self.when),
                "dosageInstruction": [
                    {
                        "sequence": 1,
                        "text": "Take one tablet by mouth daily",
                        "asNeededBoolean": False,
                    }
                ],
            }
        )

    def _immunization(self, context: JsonObject) -> JsonObject:
        code, display = self.rng.choice(VACCINES)
        return self._entry(
            {
                "resourceType": "Immunization",
                "status": "completed",
                "vaccineCode": _concept(CVX, code, display),
                "patient": self._patient_ref(),
                **context,
                "occurrenceDateTime": _instant(self.when),
                "primarySource": True,
            }
        )

    def _allergy(self) -> JsonObject:
        code, display, category = self.rng.choice(ALLERGIES)
        return self._entry(
            {
                "resourceType": "AllergyIntolerance",
                "clinicalStatus": _concept(
                    "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active"
                ),
                "verificationStatus": _concept(
                    "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                    "confirmed",
                ),
                "type": "allergy",
                "category": [category],
                "criticality": "low",
                "code": _concept(SNOMED, code, display),
                "patient": self._patient_ref(),
                "recordedDate": _instant(self.when),
            }
        )

    def _care_plan(self, context: JsonObject) -> JsonObject:
        code, display = self.rng.choice(CARE_PLANS)
        plan: JsonObject = {
            "resourceType": "CarePlan",
            "status": "active",
            "intent": "order",
            "category": [_concept(SNOMED, code, display)],
            "subject": self._patient_ref(),
            **context,
            "period": {"start": _instant(self.when)},
            "activity": [
                {
                    "detail": {
                        "code": _concept(SNOMED, "226234005", "Healthy diet"),
                        "status": "in-progress",
                    }
                }
            ],
        }
        if self.conditions:
            plan["addresses"] = [{"reference": self.rng.choice(self.conditions)}]
        return self._entry(plan)


def _concept(system: str, code: str, display: str | None = None) -> JsonObject:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding], **({"text": display} if display else {})}


def _instant(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S+00:00")
