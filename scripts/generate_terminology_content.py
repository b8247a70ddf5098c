"""Regenerate the generated part of terminology/content/ (see terminology/content/README.md).

Three outputs, each written whole:

- ``fhir-r4/``: the CodeSystems and ValueSets bound with strength *required* in the resource types
  medrec writes (RESOURCE_TYPES) and in the datatypes they use, plus EXTRA_VALUE_SETS, copied from
  the official package ``hl7.fhir.r4.examples@4.0.1`` (HL7 FHIR R4 4.0.1, CC0) without their
  narrative. The HL7 v2 tables (0001, 0078, 0085, 0203) are among them: the package carries them
  as complete CodeSystems (HL7 terminology, CC0), so they are not retyped by hand.
- ``required-bindings.json``: resource type -> the element paths (as JSON keys, choice types
  resolved) bound to a value set this server can enumerate, for binding validation on writes.
- ``loinc/``: the LOINC codes medrec ships (LAB_TESTS, DOCUMENT_TYPES below) as a CodeSystem
  fragment with printed names, abbreviations, UCUM units and plausible ranges, and a ValueSet of
  all lab tests plus one per panel.

Usage::

    uv run python scripts/generate_terminology_content.py             # fetches the package with npm
    uv run python scripts/generate_terminology_content.py DIR/package  # an already unpacked package

The hand-written medrec content (``medrec/``: record categories, colours, concept maps) is not
touched.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fhir_server.model.r4_package import r4_package_dir

CONTENT = Path(__file__).resolve().parents[1] / "terminology" / "content"
MEDREC = "https://medrec.dev/fhir"

# The resource types medrec writes (REST clients, scans, HL7 v2 mappers, SMART audit). Add a type
# here and rerun to validate its required bindings too.
RESOURCE_TYPES = (
    "AllergyIntolerance",
    "Appointment",
    "AuditEvent",
    "CarePlan",
    "Communication",
    "CommunicationRequest",
    "Composition",
    "Condition",
    "Consent",
    "Device",
    "DiagnosticReport",
    "DocumentReference",
    "Encounter",
    "Immunization",
    "Location",
    "Media",
    "MedicationRequest",
    "MedicationStatement",
    "Observation",
    "Organization",
    "Patient",
    "Practitioner",
    "PractitionerRole",
    "Procedure",
    "Provenance",
    "RelatedPerson",
    "ServiceRequest",
    "Specimen",
    "Task",
)
# Datatypes whose own elements carry required bindings we can check.
DATATYPES = (
    "Identifier",
    "HumanName",
    "ContactPoint",
    "Address",
    "Quantity",
    "Narrative",
    "Timing",
)
QUANTITY_TYPES = (
    "Quantity",
    "SimpleQuantity",
    "Duration",
    "Age",
    "Distance",
    "Count",
    "MoneyQuantity",
)
BINDABLE = ("code", "Coding", "CodeableConcept")

# Value sets shipped although no required binding names them: the mappers and the search engine
# use them (preferred or extensible bindings, HL7 v2 tables).
EXTRA_VALUE_SETS = (
    "http://hl7.org/fhir/ValueSet/observation-category",
    "http://hl7.org/fhir/ValueSet/observation-interpretation",
    "http://hl7.org/fhir/ValueSet/identifier-type",
    "http://terminology.hl7.org/ValueSet/v2-0001",
    "http://terminology.hl7.org/ValueSet/v2-0078",
    "http://terminology.hl7.org/ValueSet/v2-0085",
    "http://terminology.hl7.org/ValueSet/v2-0203",
    "http://hl7.org/fhir/ValueSet/publication-status",
    "http://hl7.org/fhir/ValueSet/concept-map-equivalence",
    "http://hl7.org/fhir/ValueSet/filter-operator",
    "http://hl7.org/fhir/ValueSet/codesystem-content-mode",
)

LOINC = "http://loinc.org"
LOINC_NOTICE = (
    "This material contains content from LOINC (http://loinc.org). LOINC is copyright "
    "\u00a9 1995-2025, Regenstrief Institute, Inc. and the Logical Observation Identifiers Names "
    "and Codes (LOINC) Committee and is available at no cost under the license at "
    "http://loinc.org/license. LOINC\u00ae is a registered United States trademark of Regenstrief "
    "Institute, Inc."
)

# -- the LOINC subset -------------------------------------------------------------------------
#
# One row per code: code, long common name, panel, printed names (English unless prefixed with a
# language, "nl:Kalium"), abbreviations, UCUM units (the first is the one the plausible range is
# written in), plausible low, plausible high.
#
# Printed names and abbreviations sit on the code a lab means when it prints them; the sibling
# codes (another property, method or specimen) are listed for validation and lookup with no
# printed names of their own, so that a name never points at two codes unless the unit tells
# them apart (Glucose in mg/dL vs mmol/L). Plausible ranges are deliberately wide ("can a living
# patient have this value?"), to catch a lost decimal point (3.7 read as 37), never to flag
# abnormal results.
Row = tuple[
    str, str, str, tuple[str, ...], tuple[str, ...], tuple[str, ...], float | None, float | None
]
N = None
# fmt: off
LAB_TESTS: tuple[Row, ...] = (
    # -- complete blood count ----------------------------------------------------------------------
    ("6690-2", "Leukocytes [#/volume] in Blood by Automated count", "cbc",
     ("White blood cells", "White blood cell count", "White cell count", "Leukocytes", "Leucocytes",
      "Leukocyte count", "WBC count", "nl:Leukocyten"), ("WBC", "WCC", "LEU"),
     ("10*3/uL", "10*9/L"), 0.1, 500),
    ("789-8", "Erythrocytes [#/volume] in Blood by Automated count", "cbc",
     ("Red blood cells", "Red blood cell count", "Red cell count", "Erythrocytes",
      "Erythrocyte count", "RBC count", "nl:Erytrocyten"), ("RBC", "ERY"), ("10*6/uL", "10*12/L"),
     0.5, 10),
    ("718-7", "Hemoglobin [Mass/volume] in Blood", "cbc",
     ("Hemoglobin", "Haemoglobin", "nl:Hemoglobine"), ("HGB", "Hb", "Hgb"), ("g/dL", "g/L"), 1, 25),
    ("59260-0", "Hemoglobin [Moles/volume] in Blood", "cbc",
     ("Hemoglobin", "Haemoglobin", "nl:Hemoglobine"), ("HGB", "Hb", "Hgb"), ("mmol/L",), 0.6, 16),
    ("4544-3", "Hematocrit [Volume Fraction] of Blood by Automated count", "cbc",
     ("Hematocrit", "Haematocrit", "Packed cell volume"), ("HCT", "Hct", "PCV", "Ht"), ("%", "L/L"),
     5, 80),
    ("20570-8", "Hematocrit [Volume Fraction] of Blood", "cbc",
     (), (), ("%",), 5, 80),
    ("787-2", "MCV [Entitic volume] by Automated count", "cbc",
     ("Mean corpuscular volume", "Mean cell volume"), ("MCV",), ("fL",), 40, 160),
    ("785-6", "MCH [Entitic mass] by Automated count", "cbc",
     ("Mean corpuscular hemoglobin", "Mean cell haemoglobin", "Mean cell hemoglobin"), ("MCH",),
     ("pg",), 10, 55),
    ("786-4", "MCHC [Mass/volume] by Automated count", "cbc",
     ("Mean corpuscular hemoglobin concentration", "Mean cell haemoglobin concentration"),
     ("MCHC",), ("g/dL", "g/L"), 20, 45),
    ("788-0", "Erythrocyte distribution width [Ratio] by Automated count", "cbc",
     ("Red cell distribution width", "RBC distribution width"), ("RDW", "RDW-CV"), ("%",), 5, 40),
    ("21000-5", "Erythrocyte distribution width [Entitic volume] by Automated count", "cbc",
     (), ("RDW-SD",), ("fL",), 20, 150),
    ("777-3", "Platelets [#/volume] in Blood by Automated count", "cbc",
     ("Platelets", "Platelet count", "Thrombocytes", "Thrombocyte count", "nl:Trombocyten"),
     ("PLT", "PLTS", "THR"), ("10*3/uL", "10*9/L"), 1, 3000),
    ("32623-1", "Platelet mean volume [Entitic volume] in Blood by Automated count", "cbc",
     ("Mean platelet volume",), ("MPV",), ("fL",), 4, 25),
    ("32207-3", "Platelet distribution width [Entitic volume] in Blood by Automated count", "cbc",
     ("Platelet distribution width",), ("PDW",), ("fL",), 5, 30),
    ("770-8", "Neutrophils/100 leukocytes in Blood by Automated count", "cbc",
     ("Neutrophils %", "Neutrophil percentage"), ("NEUT%", "NE%"), ("%",), 0, 100),
    ("751-8", "Neutrophils [#/volume] in Blood by Automated count", "cbc",
     ("Neutrophils absolute", "Absolute neutrophil count", "Neutrophils #"), ("NEUT#", "ANC"),
     ("10*3/uL", "10*9/L"), 0, 200),
    ("736-9", "Lymphocytes/100 leukocytes in Blood by Automated count", "cbc",
     ("Lymphocytes %", "Lymphocyte percentage"), ("LYMPH%", "LY%"), ("%",), 0, 100),
    ("731-0", "Lymphocytes [#/volume] in Blood by Automated count", "cbc",
     ("Lymphocytes absolute", "Absolute lymphocyte count", "Lymphocytes #"), ("LYMPH#", "ALC"),
     ("10*3/uL", "10*9/L"), 0, 500),
    ("5905-5", "Monocytes/100 leukocytes in Blood by Automated count", "cbc",
     ("Monocytes %",), ("MONO%", "MO%"), ("%",), 0, 100),
    ("742-7", "Monocytes [#/volume] in Blood by Automated count", "cbc",
     ("Monocytes absolute", "Monocytes #"), ("MONO#",), ("10*3/uL", "10*9/L"), 0, 100),
    ("713-8", "Eosinophils/100 leukocytes in Blood by Automated count", "cbc",
     ("Eosinophils %",), ("EOS%", "EO%"), ("%",), 0, 100),
    ("711-2", "Eosinophils [#/volume] in Blood by Automated count", "cbc",
     ("Eosinophils absolute", "Eosinophils #"), ("EOS#",), ("10*3/uL", "10*9/L"), 0, 100),
    ("706-2", "Basophils/100 leukocytes in Blood by Automated count", "cbc",
     ("Basophils %",), ("BASO%", "BA%"), ("%",), 0, 100),
    ("704-7", "Basophils [#/volume] in Blood by Automated count", "cbc",
     ("Basophils absolute", "Basophils #"), ("BASO#",), ("10*3/uL", "10*9/L"), 0, 50),
    ("4679-7", "Reticulocytes/100 erythrocytes in Blood", "cbc",
     ("Reticulocytes", "Reticulocyte count"), ("RETIC", "RET%"), ("%",), 0, 60),
    ("17849-1", "Reticulocytes/100 erythrocytes in Blood by Automated count", "cbc",
     (), (), ("%",), 0, 60),
    ("30341-2", "Erythrocyte sedimentation rate", "cbc",
     ("Erythrocyte sedimentation rate", "Sedimentation rate", "Sed rate", "nl:Bezinking"), ("ESR",),
     ("mm/h",), 0, 200),
    ("4537-7", "Erythrocyte sedimentation rate by Westergren method", "cbc",
     ("ESR Westergren", "Westergren"), (), ("mm/h",), 0, 200),
    ("26464-8", "Leukocytes [#/volume] in Blood", "cbc",
     (), (), ("10*3/uL", "10*9/L"), 0.1, 500),
    ("26453-1", "Erythrocytes [#/volume] in Blood", "cbc",
     (), (), ("10*6/uL", "10*12/L"), 0.5, 10),
    ("26515-7", "Platelets [#/volume] in Blood", "cbc",
     (), (), ("10*3/uL", "10*9/L"), 1, 3000),
    ("30428-7", "MCV [Entitic volume]", "cbc",
     (), (), ("fL",), 40, 160),
    ("28539-5", "MCH [Entitic mass]", "cbc",
     (), (), ("pg",), 10, 55),
    ("28540-3", "MCHC [Mass/volume]", "cbc",
     (), (), ("g/dL", "g/L"), 20, 45),
    ("30385-9", "Erythrocyte distribution width [Ratio]", "cbc",
     (), (), ("%",), 5, 40),
    ("26499-4", "Neutrophils [#/volume] in Blood", "cbc",
     (), (), ("10*3/uL", "10*9/L"), 0, 200),
    ("26511-6", "Neutrophils/100 leukocytes in Blood", "cbc",
     (), (), ("%",), 0, 100),
    ("26474-7", "Lymphocytes [#/volume] in Blood", "cbc",
     (), (), ("10*3/uL", "10*9/L"), 0, 500),
    ("26478-8", "Lymphocytes/100 leukocytes in Blood", "cbc",
     (), (), ("%",), 0, 100),
    ("26484-6", "Monocytes [#/volume] in Blood", "cbc",
     (), (), ("10*3/uL", "10*9/L"), 0, 100),
    ("26485-3", "Monocytes/100 leukocytes in Blood", "cbc",
     (), (), ("%",), 0, 100),
    ("26449-9", "Eosinophils [#/volume] in Blood", "cbc",
     (), (), ("10*3/uL", "10*9/L"), 0, 100),
    ("26450-7", "Eosinophils/100 leukocytes in Blood", "cbc",
     (), (), ("%",), 0, 100),
    ("26444-0", "Basophils [#/volume] in Blood", "cbc",
     (), (), ("10*3/uL", "10*9/L"), 0, 50),
    ("30180-4", "Basophils/100 leukocytes in Blood", "cbc",
     (), (), ("%",), 0, 100),
    # -- basic and comprehensive metabolic panels --------------------------------------------------
    ("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "bmp",
     ("Glucose", "Blood glucose", "Blood sugar", "Random glucose", "Glucose random"), ("GLU",),
     ("mg/dL",), 5, 2000),
    ("14749-6", "Glucose [Moles/volume] in Serum or Plasma", "bmp",
     ("Glucose", "Blood glucose", "Blood sugar", "Random glucose", "Glucose random"), ("GLU",),
     ("mmol/L",), 0.3, 110),
    ("1558-6", "Fasting glucose [Mass/volume] in Serum or Plasma", "bmp",
     ("Fasting glucose", "Glucose fasting", "Fasting blood sugar", "Fasting blood glucose",
      "Fasting plasma glucose", "nl:Glucose nuchter"), ("FBS", "FBG", "FPG"), ("mg/dL",), 5, 2000),
    ("14771-0", "Fasting glucose [Moles/volume] in Serum or Plasma", "bmp",
     ("Fasting glucose", "Glucose fasting", "Fasting blood sugar", "Fasting blood glucose",
      "Fasting plasma glucose", "nl:Glucose nuchter"), ("FBS", "FBG", "FPG"), ("mmol/L",),
     0.3, 110),
    ("2339-0", "Glucose [Mass/volume] in Blood", "bmp",
     (), (), ("mg/dL",), 5, 2000),
    ("15074-8", "Glucose [Moles/volume] in Blood", "bmp",
     (), (), ("mmol/L",), 0.3, 110),
    ("41653-7", "Glucose [Mass/volume] in Capillary blood by Glucometer", "bmp",
     ("Capillary glucose", "Fingerstick glucose", "Glucometer glucose"), ("POC glucose",),
     ("mg/dL",), 5, 2000),
    ("2951-2", "Sodium [Moles/volume] in Serum or Plasma", "bmp",
     ("Sodium", "nl:Natrium"), ("Na", "NA+"), ("mmol/L", "meq/L"), 80, 220),
    ("2947-0", "Sodium [Moles/volume] in Blood", "bmp",
     (), (), ("mmol/L", "meq/L"), 80, 220),
    ("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "bmp",
     ("Potassium", "nl:Kalium"), ("K", "K+"), ("mmol/L", "meq/L"), 1, 12),
    ("6298-4", "Potassium [Moles/volume] in Blood", "bmp",
     (), (), ("mmol/L", "meq/L"), 1, 12),
    ("2075-0", "Chloride [Moles/volume] in Serum or Plasma", "bmp",
     ("Chloride", "nl:Chloor", "Chloride serum"), ("Cl", "CL-"), ("mmol/L", "meq/L"), 50, 160),
    ("2069-3", "Chloride [Moles/volume] in Blood", "bmp",
     (), (), ("mmol/L", "meq/L"), 50, 160),
    ("2028-9", "Carbon dioxide, total [Moles/volume] in Serum or Plasma", "bmp",
     ("Carbon dioxide", "Total CO2", "Carbon dioxide total"), ("CO2", "TCO2"), ("mmol/L", "meq/L"),
     2, 60),
    ("1963-8", "Bicarbonate [Moles/volume] in Serum or Plasma", "bmp",
     ("Bicarbonate",), ("HCO3", "HCO3-"), ("mmol/L", "meq/L"), 2, 60),
    ("3094-0", "Urea nitrogen [Mass/volume] in Serum or Plasma", "bmp",
     ("Urea nitrogen", "Blood urea nitrogen"), ("BUN",), ("mg/dL",), 1, 300),
    ("14937-7", "Urea nitrogen [Moles/volume] in Serum or Plasma", "bmp",
     (), (), ("mmol/L",), 0.3, 110),
    ("6299-2", "Urea nitrogen [Mass/volume] in Blood", "bmp",
     (), (), ("mg/dL",), 1, 300),
    ("22664-7", "Urea [Moles/volume] in Serum or Plasma", "bmp",
     ("Urea", "nl:Ureum"), (), ("mmol/L",), 0.3, 110),
    ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "bmp",
     ("Creatinine", "Creatinine serum", "nl:Kreatinine"), ("CREA", "Creat", "Cr"), ("mg/dL",),
     0.05, 40),
    ("14682-9", "Creatinine [Moles/volume] in Serum or Plasma", "bmp",
     ("Creatinine", "Creatinine serum", "nl:Kreatinine"), ("CREA", "Creat", "Cr"), ("umol/L",),
     4, 3500),
    ("38483-4", "Creatinine [Mass/volume] in Blood", "bmp",
     (), (), ("mg/dL",), 0.05, 40),
    ("17861-6", "Calcium [Mass/volume] in Serum or Plasma", "bmp",
     ("Calcium", "Calcium total"), ("Ca",), ("mg/dL",), 2, 25),
    ("2000-8", "Calcium [Moles/volume] in Serum or Plasma", "bmp",
     ("Calcium", "Calcium total"), ("Ca",), ("mmol/L",), 0.5, 6),
    ("33914-3",
     "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum or Plasma"
     " by Creatinine-based formula (MDRD)",
     "bmp",
     ("eGFR MDRD", "GFR MDRD"), (), ("mL/min/{1.73_m2}",), 1, 250),
    ("62238-1",
     "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum or Plasma"
     " by Creatinine-based formula (CKD-EPI)",
     "bmp",
     ("eGFR CKD-EPI",), (), ("mL/min/{1.73_m2}",), 1, 250),
    ("98979-8",
     "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum, Plasma or Blood"
     " by Creatinine-based formula (CKD-EPI 2021)",
     "bmp",
     ("Estimated GFR", "eGFR CKD-EPI 2021", "Glomerular filtration rate"), ("eGFR",),
     ("mL/min/{1.73_m2}",), 1, 250),
    ("33037-3", "Anion gap in Serum or Plasma", "bmp",
     ("Anion gap",), ("AG",), ("mmol/L", "meq/L"), -10, 60),
    ("1863-0", "Anion gap 4 in Serum or Plasma", "bmp",
     (), (), ("mmol/L", "meq/L"), -10, 60),
    ("10466-1", "Anion gap 3 in Serum or Plasma", "bmp",
     (), (), ("mmol/L", "meq/L"), -10, 60),
    ("3084-1", "Urate [Mass/volume] in Serum or Plasma", "cmp",
     ("Uric acid", "Urate", "nl:Urinezuur"), ("UA",), ("mg/dL",), 0.2, 30),
    ("14933-6", "Urate [Moles/volume] in Serum or Plasma", "cmp",
     ("Uric acid", "Urate", "nl:Urinezuur"), ("UA",), ("umol/L",), 10, 1800),
    ("2777-1", "Phosphate [Mass/volume] in Serum or Plasma", "cmp",
     ("Phosphate", "Phosphorus", "Inorganic phosphate", "nl:Fosfaat"), ("PHOS", "PO4"), ("mg/dL",),
     0.3, 25),
    ("14879-1", "Phosphate [Moles/volume] in Serum or Plasma", "cmp",
     ("Phosphate", "Phosphorus", "Inorganic phosphate", "nl:Fosfaat"), ("PHOS", "PO4"), ("mmol/L",),
     0.1, 8),
    ("19123-9", "Magnesium [Mass/volume] in Serum or Plasma", "cmp",
     ("Magnesium",), ("Mg",), ("mg/dL",), 0.2, 15),
    ("2601-3", "Magnesium [Moles/volume] in Serum or Plasma", "cmp",
     ("Magnesium",), ("Mg",), ("mmol/L",), 0.1, 6),
    ("2885-2", "Protein [Mass/volume] in Serum or Plasma", "cmp",
     ("Total protein", "Protein total", "nl:Totaal eiwit"), ("TP",), ("g/dL", "g/L"), 1, 20),
    ("1751-7", "Albumin [Mass/volume] in Serum or Plasma", "cmp",
     ("Albumin", "nl:Albumine"), ("ALB",), ("g/dL", "g/L"), 0.5, 8),
    ("10834-0", "Globulin [Mass/volume] in Serum by calculation", "cmp",
     ("Globulin", "Globulins"), ("GLOB",), ("g/dL", "g/L"), 0.5, 15),
    ("1759-0", "Albumin/Globulin [Mass Ratio] in Serum or Plasma", "cmp",
     ("Albumin/globulin ratio",), ("A/G ratio", "A/G"), ("{ratio}",), 0.1, 5),
    # -- liver panel -------------------------------------------------------------------------------
    ("1975-2", "Bilirubin.total [Mass/volume] in Serum or Plasma", "liver",
     ("Total bilirubin", "Bilirubin total", "Bilirubin", "nl:Bilirubine totaal"),
     ("TBIL", "T. Bili"), ("mg/dL",), 0.05, 60),
    ("14631-6", "Bilirubin.total [Moles/volume] in Serum or Plasma", "liver",
     ("Total bilirubin", "Bilirubin total", "Bilirubin", "nl:Bilirubine totaal"),
     ("TBIL", "T. Bili"), ("umol/L",), 1, 1000),
    ("1968-7", "Bilirubin.direct [Mass/volume] in Serum or Plasma", "liver",
     ("Direct bilirubin", "Bilirubin direct", "Conjugated bilirubin"), ("DBIL", "D. Bili"),
     ("mg/dL",), 0, 40),
    ("14629-0", "Bilirubin.direct [Moles/volume] in Serum or Plasma", "liver",
     ("Direct bilirubin", "Bilirubin direct", "Conjugated bilirubin"), ("DBIL", "D. Bili"),
     ("umol/L",), 0, 700),
    ("6768-6", "Alkaline phosphatase [Enzymatic activity/volume] in Serum or Plasma", "liver",
     ("Alkaline phosphatase", "Alk phos", "nl:Alkalische fosfatase"), ("ALP", "ALKP", "AF"),
     ("U/L",), 5, 5000),
    ("1742-6", "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "liver",
     ("Alanine aminotransferase", "Alanine transaminase"), ("ALT", "SGPT", "ALAT", "GPT"), ("U/L",),
     1, 20000),
    ("1920-8", "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "liver",
     ("Aspartate aminotransferase", "Aspartate transaminase"), ("AST", "SGOT", "ASAT", "GOT"),
     ("U/L",), 1, 20000),
    ("2324-2", "Gamma glutamyl transferase [Enzymatic activity/volume] in Serum or Plasma", "liver",
     ("Gamma glutamyl transferase", "Gamma-glutamyltransferase", "Gamma GT"),
     ("GGT", "GGTP", "yGT", "Gamma-GT"), ("U/L",), 1, 5000),
    ("2532-0", "Lactate dehydrogenase [Enzymatic activity/volume] in Serum or Plasma", "liver",
     ("Lactate dehydrogenase",), ("LDH", "LD"), ("U/L",), 20, 20000),
    ("1798-8", "Amylase [Enzymatic activity/volume] in Serum or Plasma", "liver",
     ("Amylase",), ("AMY",), ("U/L",), 1, 10000),
    ("3040-3", "Lipase [Enzymatic activity/volume] in Serum or Plasma", "liver",
     ("Lipase",), ("LIP",), ("U/L",), 1, 20000),
    ("2157-6", "Creatine kinase [Enzymatic activity/volume] in Serum or Plasma", "cardiac",
     ("Creatine kinase", "Creatine phosphokinase"), ("CK", "CPK"), ("U/L",), 5, 100000),
    # -- lipid panel -------------------------------------------------------------------------------
    ("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "lipid",
     ("Total cholesterol", "Cholesterol", "Cholesterol total", "nl:Cholesterol totaal"),
     ("CHOL", "TC"), ("mg/dL",), 20, 1500),
    ("14647-2", "Cholesterol [Moles/volume] in Serum or Plasma", "lipid",
     ("Total cholesterol", "Cholesterol", "Cholesterol total", "nl:Cholesterol totaal"),
     ("CHOL", "TC"), ("mmol/L",), 0.5, 40),
    ("2085-9", "Cholesterol in HDL [Mass/volume] in Serum or Plasma", "lipid",
     ("HDL cholesterol", "Cholesterol HDL", "High density lipoprotein cholesterol"),
     ("HDL", "HDL-C"), ("mg/dL",), 2, 250),
    ("14646-4", "Cholesterol in HDL [Moles/volume] in Serum or Plasma", "lipid",
     ("HDL cholesterol", "Cholesterol HDL", "High density lipoprotein cholesterol"),
     ("HDL", "HDL-C"), ("mmol/L",), 0.05, 7),
    ("13457-7", "Cholesterol in LDL [Mass/volume] in Serum or Plasma by calculation", "lipid",
     ("LDL cholesterol calculated", "LDL calculated", "Calculated LDL"), ("LDL-C calc",),
     ("mg/dL",), 2, 1000),
    ("18262-6", "Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay", "lipid",
     ("Direct LDL", "LDL direct", "LDL cholesterol direct"), (), ("mg/dL",), 2, 1000),
    ("2089-1", "Cholesterol in LDL [Mass/volume] in Serum or Plasma", "lipid",
     ("LDL cholesterol", "Cholesterol LDL", "Low density lipoprotein cholesterol"),
     ("LDL", "LDL-C"), ("mg/dL",), 2, 1000),
    ("22748-8", "Cholesterol in LDL [Moles/volume] in Serum or Plasma", "lipid",
     ("LDL cholesterol", "Cholesterol LDL", "Low density lipoprotein cholesterol"),
     ("LDL", "LDL-C"), ("mmol/L",), 0.05, 26),
    ("2571-8", "Triglyceride [Mass/volume] in Serum or Plasma", "lipid",
     ("Triglycerides", "Triglyceride", "nl:Triglyceriden"), ("TG", "TRIG"), ("mg/dL",), 5, 10000),
    ("14927-8", "Triglyceride [Moles/volume] in Serum or Plasma", "lipid",
     ("Triglycerides", "Triglyceride", "nl:Triglyceriden"), ("TG", "TRIG"), ("mmol/L",), 0.05, 120),
    ("43396-1", "Cholesterol non HDL [Mass/volume] in Serum or Plasma", "lipid",
     ("Non-HDL cholesterol", "Non HDL cholesterol"), ("non-HDL",), ("mg/dL",), 5, 1500),
    ("9830-1", "Cholesterol.total/Cholesterol in HDL [Mass Ratio] in Serum or Plasma", "lipid",
     ("Cholesterol/HDL ratio", "Total cholesterol/HDL ratio"), ("TC/HDL", "CHOL/HDL"), ("{ratio}",),
     0.5, 30),
    ("10835-7", "Lipoprotein a [Mass/volume] in Serum or Plasma", "lipid",
     ("Lipoprotein a", "Lipoprotein(a)"), ("Lp(a)",), ("mg/dL",), 0, 500),
    ("1869-7", "Apolipoprotein A-I [Mass/volume] in Serum or Plasma", "lipid",
     ("Apolipoprotein A1", "Apolipoprotein A-I"), ("Apo A1", "ApoA1"), ("mg/dL",), 10, 400),
    ("1884-6", "Apolipoprotein B [Mass/volume] in Serum or Plasma", "lipid",
     ("Apolipoprotein B",), ("Apo B", "ApoB"), ("mg/dL",), 10, 400),
    # -- thyroid -----------------------------------------------------------------------------------
    ("3016-3", "Thyrotropin [Units/volume] in Serum or Plasma", "thyroid",
     ("Thyroid stimulating hormone", "Thyrotropin"), ("TSH",), ("m[IU]/L", "u[IU]/mL"),
     0.001, 1000),
    ("11580-8",
     "Thyrotropin [Units/volume] in Serum or Plasma by Detection limit <= 0.005 mIU/L",
     "thyroid",
     (), (), ("m[IU]/L", "u[IU]/mL"), 0.001, 1000),
    ("3024-7", "Thyroxine (T4) free [Mass/volume] in Serum or Plasma", "thyroid",
     ("Free thyroxine", "Free T4", "Thyroxine free", "nl:Vrij T4"), ("FT4", "fT4"), ("ng/dL",),
     0.05, 15),
    ("14920-3", "Thyroxine (T4) free [Moles/volume] in Serum or Plasma", "thyroid",
     ("Free thyroxine", "Free T4", "Thyroxine free", "nl:Vrij T4"), ("FT4", "fT4"), ("pmol/L",),
     0.5, 200),
    ("3026-2", "Thyroxine (T4) [Mass/volume] in Serum or Plasma", "thyroid",
     ("Total thyroxine", "Total T4", "Thyroxine"), ("T4", "TT4"), ("ug/dL",), 0.5, 40),
    ("3051-0", "Triiodothyronine (T3) Free [Mass/volume] in Serum or Plasma", "thyroid",
     ("Free triiodothyronine", "Free T3"), ("FT3", "fT3"), ("pg/mL",), 0.2, 50),
    ("3053-6", "Triiodothyronine (T3) [Mass/volume] in Serum or Plasma", "thyroid",
     ("Total triiodothyronine", "Total T3", "Triiodothyronine"), ("T3", "TT3"), ("ng/dL",),
     10, 1000),
    ("8099-4", "Thyroperoxidase Ab [Units/volume] in Serum or Plasma", "thyroid",
     ("Thyroid peroxidase antibodies", "Anti-thyroid peroxidase"), ("TPO Ab", "Anti-TPO", "TPOAb"),
     ("[IU]/mL",), 0, 10000),
    # -- diabetes ----------------------------------------------------------------------------------
    ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "diabetes",
     ("Hemoglobin A1c", "Haemoglobin A1c", "Glycated hemoglobin", "Glycosylated hemoglobin",
      "Glycohemoglobin"), ("HbA1c", "A1c", "HgbA1c", "A1C"), ("%",), 2, 25),
    ("17856-6", "Hemoglobin A1c/Hemoglobin.total in Blood by HPLC", "diabetes",
     (), (), ("%",), 2, 25),
    ("59261-8", "Hemoglobin A1c/Hemoglobin.total in Blood by IFCC protocol", "diabetes",
     ("Hemoglobin A1c", "Haemoglobin A1c", "Glycated hemoglobin", "HbA1c IFCC"), ("HbA1c", "A1c"),
     ("mmol/mol",), 5, 250),
    ("27353-2",
     "Glucose mean value [Mass/volume] in Blood Estimated from glycated hemoglobin",
     "diabetes",
     ("Estimated average glucose",), ("eAG",), ("mg/dL",), 20, 800),
    ("20448-7", "Insulin [Units/volume] in Serum or Plasma", "diabetes",
     ("Insulin",), (), ("u[IU]/mL",), 0.1, 3000),
    # -- coagulation -------------------------------------------------------------------------------
    ("5902-2", "Prothrombin time (PT)", "coagulation",
     ("Prothrombin time", "Protime"), ("PT",), ("s",), 5, 200),
    ("5964-2", "Prothrombin time (PT) in Blood by Coagulation assay", "coagulation",
     (), (), ("s",), 5, 200),
    ("6301-6", "INR in Platelet poor plasma by Coagulation assay", "coagulation",
     ("International normalized ratio", "Prothrombin INR", "PT INR"), ("INR", "PT/INR"), ("{INR}",),
     0.5, 20),
    ("34714-6", "INR in Blood by Coagulation assay", "coagulation",
     ("INR point of care", "INR capillary"), (), ("{INR}",), 0.5, 20),
    ("3173-2", "aPTT in Blood by Coagulation assay", "coagulation",
     ("Activated partial thromboplastin time", "Partial thromboplastin time"),
     ("APTT", "aPTT", "PTT"), ("s",), 10, 300),
    ("14979-9", "aPTT in Platelet poor plasma by Coagulation assay", "coagulation",
     (), (), ("s",), 10, 300),
    ("3255-7",
     "Fibrinogen [Mass/volume] in Platelet poor plasma by Coagulation assay",
     "coagulation",
     ("Fibrinogen",), ("FIB",), ("mg/dL", "g/L"), 20, 2000),
    ("48065-7", "Fibrin D-dimer FEU [Mass/volume] in Platelet poor plasma", "coagulation",
     ("D-dimer", "D-dimer FEU", "Fibrin D-dimer"), ("DD",),
     ("ng/mL{FEU}", "ug/mL{FEU}", "mg/L{FEU}"), 0, 100000),
    ("48066-5", "Fibrin D-dimer DDU [Mass/volume] in Platelet poor plasma", "coagulation",
     ("D-dimer DDU",), (), ("ng/mL{DDU}", "ug/mL{DDU}"), 0, 50000),
    # -- iron studies and vitamins -----------------------------------------------------------------
    ("2498-4", "Iron [Mass/volume] in Serum or Plasma", "iron",
     ("Iron", "Serum iron", "nl:IJzer"), ("Fe",), ("ug/dL",), 2, 1000),
    ("14798-3", "Iron [Moles/volume] in Serum or Plasma", "iron",
     ("Iron", "Serum iron", "nl:IJzer"), ("Fe",), ("umol/L",), 0.3, 180),
    ("2500-7", "Iron binding capacity [Mass/volume] in Serum or Plasma", "iron",
     ("Total iron binding capacity", "Iron binding capacity"), ("TIBC",), ("ug/dL",), 50, 1000),
    ("14800-7", "Iron binding capacity [Moles/volume] in Serum or Plasma", "iron",
     ("Total iron binding capacity", "Iron binding capacity"), ("TIBC",), ("umol/L",), 9, 180),
    ("2501-5", "Iron binding capacity.unsaturated [Mass/volume] in Serum or Plasma", "iron",
     ("Unsaturated iron binding capacity",), ("UIBC",), ("ug/dL",), 0, 1000),
    ("2502-3", "Iron saturation [Mass Fraction] in Serum or Plasma", "iron",
     ("Transferrin saturation", "Iron saturation"), ("TSAT", "Sat%"), ("%",), 0, 100),
    ("2276-4", "Ferritin [Mass/volume] in Serum or Plasma", "iron",
     ("Ferritin", "nl:Ferritine"), ("FERR",), ("ng/mL", "ug/L"), 0.5, 100000),
    ("2132-9", "Cobalamin (Vitamin B12) [Mass/volume] in Serum or Plasma", "iron",
     ("Vitamin B12", "Cobalamin"), ("B12", "Vit B12"), ("pg/mL",), 20, 10000),
    ("2284-8", "Folate [Mass/volume] in Serum or Plasma", "iron",
     ("Folate", "Folic acid", "nl:Foliumzuur"), (), ("ng/mL",), 0.2, 100),
    ("1989-3",
     "25-hydroxyvitamin D3+25-hydroxyvitamin D2 [Mass/volume] in Serum or Plasma",
     "vitamin",
     ("Vitamin D", "25-hydroxyvitamin D", "25-OH vitamin D"), ("25(OH)D", "Vit D"), ("ng/mL",),
     1, 300),
    # -- urinalysis --------------------------------------------------------------------------------
    ("5803-2", "pH of Urine by Test strip", "urinalysis",
     ("Urine pH", "pH urine"), ("pH",), ("[pH]",), 3.5, 10),
    ("2756-5", "pH of Urine", "urinalysis",
     (), (), ("[pH]",), 3.5, 10),
    ("5811-5", "Specific gravity of Urine by Test strip", "urinalysis",
     ("Specific gravity", "Urine specific gravity", "nl:Soortelijk gewicht"), ("SG", "Sp. gr."),
     ("1",), 1, 1.06),
    ("2965-2", "Specific gravity of Urine", "urinalysis",
     (), (), ("1",), 1, 1.06),
    ("5804-0", "Protein [Mass/volume] in Urine by Test strip", "urinalysis",
     ("Urine protein", "Protein urine"), ("PRO",), ("mg/dL",), 0, 3000),
    ("20454-5", "Protein [Presence] in Urine by Test strip", "urinalysis",
     (), (), (), N, N),
    ("2888-6", "Protein [Mass/volume] in Urine", "urinalysis",
     (), (), ("mg/dL",), 0, 3000),
    ("5792-7", "Glucose [Mass/volume] in Urine by Test strip", "urinalysis",
     ("Urine glucose", "Glucose urine"), (), ("mg/dL",), 0, 5000),
    ("25428-4", "Glucose [Presence] in Urine by Test strip", "urinalysis",
     (), (), (), N, N),
    ("5797-6", "Ketones [Mass/volume] in Urine by Test strip", "urinalysis",
     ("Urine ketones", "Ketones"), ("KET",), ("mg/dL",), 0, 500),
    ("2514-8", "Ketones [Presence] in Urine by Test strip", "urinalysis",
     (), (), (), N, N),
    ("5794-3", "Hemoglobin [Presence] in Urine by Test strip", "urinalysis",
     ("Urine blood", "Blood urine", "Occult blood urine"), ("BLD",), (), N, N),
    ("5802-4", "Nitrite [Presence] in Urine by Test strip", "urinalysis",
     ("Nitrite", "Urine nitrite", "nl:Nitriet"), ("NIT",), (), N, N),
    ("5799-2", "Leukocyte esterase [Presence] in Urine by Test strip", "urinalysis",
     ("Leukocyte esterase", "Leucocyte esterase"), ("LE", "LEU est"), (), N, N),
    ("5770-3", "Bilirubin.total [Presence] in Urine by Test strip", "urinalysis",
     ("Urine bilirubin",), (), (), N, N),
    ("13658-0", "Urobilinogen [Presence] in Urine by Test strip", "urinalysis",
     ("Urobilinogen",), ("UBG", "URO"), (), N, N),
    ("5778-6", "Color of Urine", "urinalysis",
     ("Urine color", "Urine colour", "Color"), (), (), N, N),
    ("5767-9", "Appearance of Urine", "urinalysis",
     ("Urine appearance", "Appearance", "Clarity"), (), (), N, N),
    ("13945-1",
     "Erythrocytes [#/area] in Urine sediment by Microscopy high power field",
     "urinalysis",
     ("Urine RBC", "RBC urine", "Red cells urine"), ("RBC/HPF",), ("/[HPF]",), 0, 1000),
    ("5821-4", "Leukocytes [#/area] in Urine sediment by Microscopy high power field", "urinalysis",
     ("Urine WBC", "WBC urine", "White cells urine"), ("WBC/HPF",), ("/[HPF]",), 0, 1000),
    ("11277-1",
     "Epithelial cells.squamous [#/area] in Urine sediment by Microscopy high power field",
     "urinalysis",
     ("Squamous epithelial cells",), ("SEC",), ("/[HPF]",), 0, 1000),
    ("5796-8",
     "Hyaline casts [#/area] in Urine sediment by Microscopy low power field",
     "urinalysis",
     ("Hyaline casts",), (), ("/[LPF]",), 0, 500),
    ("25145-4", "Bacteria [Presence] in Urine sediment by Light microscopy", "urinalysis",
     ("Urine bacteria", "Bacteria"), (), (), N, N),
    ("30405-5", "Leukocytes [#/volume] in Urine", "urinalysis",
     (), (), ("/uL",), 0, 100000),
    ("30391-7", "Erythrocytes [#/volume] in Urine", "urinalysis",
     (), (), ("/uL",), 0, 100000),
    ("2161-8", "Creatinine [Mass/volume] in Urine", "urinalysis",
     ("Urine creatinine", "Creatinine urine"), (), ("mg/dL",), 1, 1000),
    ("9318-7", "Albumin/Creatinine [Mass Ratio] in Urine", "urinalysis",
     ("Albumin/creatinine ratio", "Urine albumin creatinine ratio"), ("ACR", "UACR"),
     ("mg/g{creat}",), 0, 20000),
    ("14959-1", "Microalbumin/Creatinine [Mass Ratio] in Urine", "urinalysis",
     ("Microalbumin/creatinine ratio",), (), ("mg/g{creat}",), 0, 20000),
    # -- inflammation and cardiac markers ----------------------------------------------------------
    ("1988-5", "C reactive protein [Mass/volume] in Serum or Plasma", "inflammation",
     ("C-reactive protein", "C reactive protein"), ("CRP",), ("mg/L",), 0, 700),
    ("30522-7",
     "C reactive protein [Mass/volume] in Serum or Plasma by High sensitivity method",
     "inflammation",
     ("High sensitivity CRP",), ("hs-CRP", "hsCRP"), ("mg/L",), 0, 300),
    ("10839-9", "Troponin I.cardiac [Mass/volume] in Serum or Plasma", "cardiac",
     ("Troponin I",), ("TnI", "cTnI"), ("ng/mL",), 0, 1000),
    ("6598-7", "Troponin T.cardiac [Mass/volume] in Serum or Plasma", "cardiac",
     ("Troponin T",), ("TnT", "cTnT"), ("ng/mL",), 0, 100),
    ("33762-6",
     "Natriuretic peptide.B prohormone N-Terminal [Mass/volume] in Serum or Plasma",
     "cardiac",
     ("NT-proBNP", "N-terminal pro-BNP"), ("NTproBNP",), ("pg/mL",), 0, 100000),
    ("30934-4", "Natriuretic peptide B [Mass/volume] in Serum or Plasma", "cardiac",
     ("B-type natriuretic peptide", "Brain natriuretic peptide"), ("BNP",), ("pg/mL",), 0, 10000),
    ("2524-7", "Lactate [Moles/volume] in Blood", "cardiac",
     ("Lactate", "Lactic acid"), ("LAC",), ("mmol/L",), 0.1, 35),
    ("2731-8", "Parathyrin.intact [Mass/volume] in Serum or Plasma", "other",
     ("Parathyroid hormone", "Intact PTH", "Parathormone"), ("PTH",), ("pg/mL",), 1, 5000),
    ("2857-1", "Prostate specific Ag [Mass/volume] in Serum or Plasma", "other",
     ("Prostate specific antigen",), ("PSA",), ("ng/mL",), 0, 10000),
)
# fmt: on

# LOINC document codes of the record categories (terminology/content/medrec ConceptMaps).
DOCUMENT_TYPES: tuple[tuple[str, str], ...] = (
    ("34117-2", "History and physical note"),
    ("18842-5", "Discharge summary"),
    ("57833-6", "Prescription for medication Document"),
    ("11502-2", "Laboratory report"),
    ("18748-4", "Diagnostic imaging study"),
    ("59284-0", "Patient Consent"),
    ("57133-1", "Referral note"),
)

PANELS = {
    "cbc": "Complete blood count",
    "bmp": "Basic metabolic panel",
    "cmp": "Comprehensive metabolic panel",
    "liver": "Liver panel",
    "lipid": "Lipid panel",
    "thyroid": "Thyroid function",
    "diabetes": "Diabetes monitoring",
    "coagulation": "Coagulation",
    "iron": "Iron studies and anaemia",
    "vitamin": "Vitamins",
    "urinalysis": "Urinalysis",
    "inflammation": "Inflammation markers",
    "cardiac": "Cardiac markers",
    "other": "Other common tests",
}


def lab_value_sets() -> list[dict[str, Any]]:
    """One ValueSet of all lab tests, one per panel. Concept lists rather than filters on the
    subset's own properties: a full LOINC CodeSystem loaded by a site (which has no such
    properties) then leaves them as they are."""
    result = [_lab_value_set("lab-tests", "Laboratory tests", LAB_TESTS)]
    for panel, title in PANELS.items():
        rows = tuple(row for row in LAB_TESTS if row[2] == panel)
        result.append(_lab_value_set(f"lab-{panel}", title, rows))
    return result


def _lab_value_set(vid: str, title: str, rows: tuple[Row, ...]) -> dict[str, Any]:
    what = "All laboratory tests" if vid == "lab-tests" else f"The {title.lower()} tests"
    return {
        "resourceType": "ValueSet",
        "id": vid,
        "url": f"{MEDREC}/ValueSet/{vid}",
        "name": "".join(part.capitalize() for part in vid.split("-")),
        "title": title,
        "status": "active",
        "experimental": False,
        "publisher": "medrec",
        "description": f"{what} medrec ships (LOINC).",
        "copyright": LOINC_NOTICE,
        "compose": {
            "include": [
                {"system": LOINC, "concept": [{"code": r[0], "display": r[1]} for r in rows]}
            ]
        },
    }


def _language(name: str) -> tuple[str, str]:
    """``nl:Kalium`` -> (nl, Kalium); a name without a prefix is English."""
    prefix, _, rest = name.partition(":")
    return (prefix, rest) if rest and len(prefix) == 2 else ("en", name)


def loinc_subset() -> dict[str, Any]:
    prop = f"{MEDREC}/CodeSystem/loinc-subset#"
    use = f"{MEDREC}/CodeSystem/designation-use"
    concepts: list[dict[str, Any]] = []
    seen: set[str] = set()
    for code, display, panel, names, abbreviations, units, low, high in LAB_TESTS:
        if code in seen:
            raise ValueError(f"LOINC {code} is listed twice")
        seen.add(code)
        designations = [
            {"language": language, "use": {"system": use, "code": "printed-name"}, "value": name}
            for language, name in (_language(name) for name in names)
        ] + [
            {"use": {"system": use, "code": "abbreviation"}, "value": abbreviation}
            for abbreviation in abbreviations
        ]
        properties: list[dict[str, Any]] = [
            {"code": "kind", "valueCode": "lab"},
            {"code": "panel", "valueCode": panel},
        ]
        properties += [{"code": "unit", "valueString": unit} for unit in units]
        properties += [
            {"code": "printed-unit", "valueString": unit} for unit in PRINTED_UNITS.get(code, ())
        ]
        if low is not None and high is not None:
            properties.append({"code": "plausible-low", "valueDecimal": low})
            properties.append({"code": "plausible-high", "valueDecimal": high})
        concept: dict[str, Any] = {"code": code, "display": display}
        if designations:
            concept["designation"] = designations
        concept["property"] = properties
        concepts.append(concept)
    for code, display in DOCUMENT_TYPES:
        concepts.append(
            {
                "code": code,
                "display": display,
                "property": [{"code": "kind", "valueCode": "document"}],
            }
        )
    return {
        "resourceType": "CodeSystem",
        "id": "loinc-subset",
        "url": LOINC,
        "name": "LOINCSubset",
        "title": "LOINC: the laboratory tests and document types medrec ships",
        "status": "active",
        "experimental": False,
        "publisher": "medrec (LOINC content: Regenstrief Institute)",
        "description": (
            "A fragment of LOINC: common laboratory tests (CBC, basic and comprehensive metabolic "
            "panels, liver, lipid, thyroid, HbA1c, coagulation, iron studies, urinalysis and a "
            "few markers) with printed names, abbreviations, UCUM units and plausible value "
            "ranges (medrec properties), and the document type codes of medrec's record "
            "categories. A full LOINC CodeSystem loaded through the FHIR API takes precedence."
        ),
        "copyright": LOINC_NOTICE,
        "caseSensitive": False,
        "content": "fragment",
        "count": len(concepts),
        "property": [
            {
                "code": "kind",
                "uri": prop + "kind",
                "type": "code",
                "description": "lab (a laboratory test) or document (a document type)",
            },
            {
                "code": "panel",
                "uri": prop + "panel",
                "type": "code",
                "description": "Which common panel the test belongs to: "
                + ", ".join(f"{k} ({v})" for k, v in PANELS.items()),
            },
            {
                "code": "unit",
                "uri": prop + "unit",
                "type": "string",
                "description": "A UCUM unit the test is reported in; the first listed is the one "
                "plausible-low and plausible-high are expressed in",
            },
            {
                "code": "printed-unit",
                "uri": prop + "printed-unit",
                "type": "string",
                "description": "A UCUM unit reports print for this test that means, number for "
                "number, the first listed unit (TSH: mU/L and uU/mL for m[IU]/L)",
            },
            {
                "code": "plausible-low",
                "uri": prop + "plausible-low",
                "type": "decimal",
                "description": "Lowest value a living patient can plausibly have (first unit)",
            },
            {
                "code": "plausible-high",
                "uri": prop + "plausible-high",
                "type": "decimal",
                "description": "Highest value a living patient can plausibly have (first unit)",
            },
        ],
        "concept": concepts,
    }


# Units printed on reports that stand for a test's first unit, number for number: TSH in
# "mU/L" or "µU/mL" is the WHO international unit of m[IU]/L, not UCUM's enzyme unit U.
PRINTED_UNITS: dict[str, tuple[str, ...]] = {
    "3016-3": ("mU/L", "uU/mL"),
    "11580-8": ("mU/L", "uU/mL"),
}


# -- official definitions ---------------------------------------------------------------------


class Package:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.code_systems: dict[str, Path] = {}
        self.value_sets: dict[str, Path] = {}
        for path in sorted(folder.glob("CodeSystem-*.json")):
            self.code_systems[json.loads(path.read_bytes())["url"]] = path
        for path in sorted(folder.glob("ValueSet-*.json")):
            self.value_sets[json.loads(path.read_bytes())["url"]] = path

    def structure(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(
            (self.folder / f"StructureDefinition-{name}.json").read_bytes()
        )
        return result

    def value_set(self, url: str) -> dict[str, Any] | None:
        path = self.value_sets.get(url)
        return None if path is None else dict(json.loads(path.read_bytes()))

    def code_system(self, url: str) -> dict[str, Any] | None:
        path = self.code_systems.get(url)
        return None if path is None else dict(json.loads(path.read_bytes()))


def closure(package: Package, roots: list[str]) -> tuple[dict[str, Any], dict[str, Any], set[str]]:
    """The value sets reachable from ``roots`` (through include/exclude valueSet) and the code
    systems they draw on; the third result names the value sets we cannot enumerate."""
    value_sets: dict[str, Any] = {}
    code_systems: dict[str, Any] = {}
    unusable: set[str] = set()
    pending = list(roots)
    while pending:
        url = pending.pop()
        if url in value_sets or url in unusable:
            continue
        vs = package.value_set(url)
        if vs is None:
            unusable.add(url)
            continue
        ok = True
        compose = vs.get("compose", {})
        for part in compose.get("include", []) + compose.get("exclude", []):
            pending.extend(v.split("|")[0] for v in part.get("valueSet", []))
            system = part.get("system")
            if system is None or system in code_systems:
                continue
            cs = package.code_system(system)
            if cs is not None and cs.get("content") == "complete":
                code_systems[system] = cs
            elif "concept" not in part:
                ok = False  # "all codes of a system we do not have"
        if ok:
            value_sets[url] = vs
        else:
            unusable.add(url)
    return value_sets, code_systems, unusable


def required_bindings(package: Package) -> tuple[dict[str, list[dict[str, str]]], set[str]]:
    """resource type -> [{path, valueSet, type}] and every value set named."""
    datatype_rules: dict[str, list[tuple[str, str]]] = {}
    for name in DATATYPES:
        for element in package.structure(name)["snapshot"]["element"]:
            binding = element.get("binding") or {}
            if binding.get("strength") != "required":
                continue
            sub = element["path"].split(".", 1)[1]
            datatype_rules.setdefault(name, []).append((sub, binding["valueSet"].split("|")[0]))
    rules: dict[str, list[dict[str, str]]] = {}
    for rtype in RESOURCE_TYPES:
        found: list[dict[str, str]] = []
        for element in package.structure(rtype)["snapshot"]["element"]:
            path: str = element["path"]
            if ".extension" in path or ".modifierExtension" in path or path.endswith(".id"):
                continue
            binding = element.get("binding") or {}
            for datatype in element.get("type", []):
                code = datatype["code"]
                json_path = _json_path(path, code)
                if binding.get("strength") == "required" and code in BINDABLE:
                    vs = binding["valueSet"].split("|")[0]
                    found.append({"path": json_path, "valueSet": vs, "type": code})
                target = "Quantity" if code in QUANTITY_TYPES else code
                for sub, vs in datatype_rules.get(target, []):
                    found.append({"path": f"{json_path}.{sub}", "valueSet": vs, "type": "code"})
        unique = {(r["path"], r["valueSet"]): r for r in found}
        rules[rtype] = sorted(unique.values(), key=lambda r: r["path"])
    named = {rule["valueSet"] for found in rules.values() for rule in found}
    return rules, named


def _json_path(path: str, type_code: str) -> str:
    """``Observation.value[x]`` + Quantity -> ``Observation.valueQuantity``."""
    if path.endswith("[x]"):
        return path[: -len("[x]")] + type_code[0].upper() + type_code[1:]
    return path


def _strip(resource: dict[str, Any]) -> dict[str, Any]:
    """Drop the narrative: it is most of the bytes and nothing reads it."""
    return {k: v for k, v in resource.items() if k != "text"}


def _write(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=1, ensure_ascii=False) + "\n")


def main(argv: list[str]) -> None:
    folder = Path(argv[1]) if len(argv) > 1 else r4_package_dir()
    package = Package(folder)
    rules, named = required_bindings(package)
    value_sets, code_systems, unusable = closure(package, sorted(named | set(EXTRA_VALUE_SETS)))
    for rtype, found in rules.items():
        rules[rtype] = [rule for rule in found if rule["valueSet"] in value_sets]
    target = CONTENT / "fhir-r4"
    for old in target.glob("*.json"):
        old.unlink()
    for resource in [*code_systems.values(), *value_sets.values()]:
        _write(target / f"{resource['resourceType']}-{resource['id']}.json", _strip(resource))
    _write(
        CONTENT / "required-bindings.json",
        {
            "source": "StructureDefinitions of hl7.fhir.r4.examples@4.0.1 (CC0)",
            "skipped": sorted(unusable),
            "bindings": rules,
        },
    )
    loinc = CONTENT / "loinc"
    for old in loinc.glob("*.json"):
        old.unlink()
    _write(loinc / "CodeSystem-loinc-subset.json", loinc_subset())
    for vs in lab_value_sets():
        _write(loinc / f"ValueSet-{vs['id']}.json", vs)
    count = sum(len(found) for found in rules.values())
    print(
        f"{len(code_systems)} CodeSystems, {len(value_sets)} ValueSets, {count} bindings "
        f"({len(unusable)} value sets skipped: not enumerable), "
        f"{len(LAB_TESTS)} lab tests + {len(DOCUMENT_TYPES)} document types"
    )


if __name__ == "__main__":
    main(sys.argv)
