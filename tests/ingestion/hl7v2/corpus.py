"""The test corpus, written here (no downloads): realistic ORU^R01 panels, ADT, MDM^T02, and
malformed messages. Builders return ER7 text with CR separators; ``frame`` bytes for MLLP."""

from __future__ import annotations

import base64
from dataclasses import dataclass

FACILITY = "LAB^GOODHEALTH^HOSP"
AUTHORITY = "HOSP&1.2.3.4.5&ISO"


@dataclass(frozen=True)
class Test:
    code: str
    name: str
    system: str  # LN or a local system
    kind: str  # OBX-2
    value: str
    units: str  # OBX-6 as sent
    range_: str
    flag: str


CBC = [
    Test("6690-2", "WBC", "LN", "NM", "11.8", "10*3/uL^10*3/uL^UCUM", "4.0-10.5", "H"),
    Test("789-8", "RBC", "LN", "NM", "4.61", "10*6/uL^10*6/uL^UCUM", "4.2-5.9", "N"),
    Test("718-7", "Hemoglobin", "LN", "NM", "13.9", "g/dL^g/dL^UCUM", "13.0-17.5", "N"),
    Test("4544-3", "Hematocrit", "LN", "NM", "41.2", "%^%^UCUM", "38.8-50.0", "N"),
    Test("787-2", "MCV", "LN", "NM", "89.4", "fL^fL^UCUM", "80-100", "N"),
    Test("785-6", "MCH", "LN", "NM", "30.2", "pg^pg^UCUM", "27-33", "N"),
    Test("786-4", "MCHC", "LN", "NM", "33.7", "g/dL^g/dL^UCUM", "32-36", "N"),
    Test("777-3", "Platelets", "LN", "NM", "48", "10*3/uL^10*3/uL^UCUM", "150-400", "LL"),
    Test("770-8", "Neutrophils", "LN", "NM", "78", "%^%^UCUM", "40-70", "H"),
    Test(
        "PLTCMT",
        "Platelet comment",
        "99LAB",
        "TX",
        "Clumped \\T\\ verified\\.br\\by smear",
        "",
        "",
        "",
    ),
]
METABOLIC = [
    Test("2345-7", "Glucose", "LN", "NM", "162", "mg/dl", "70-99", "H"),
    Test("2160-0", "Creatinine", "LN", "NM", "0.9", "mg/dl", "0.7-1.3", "N"),
    Test("2951-2", "Sodium", "LN", "NM", "139", "mmol/L^^UCUM", "135-145", "N"),
    Test("2823-3", "Potassium", "LN", "NM", "6.8", "mmol/L^^UCUM", "3.5-5.1", "HH"),
    Test("2075-0", "Chloride", "LN", "NM", "101", "mmol/L", "98-107", "N"),
    Test("2028-9", "CO2", "LN", "NM", "24", "mmol/L", "22-29", "N"),
    Test("3094-0", "BUN", "LN", "NM", "15", "mg/dL", "7-20", "N"),
    Test("17861-6", "Calcium", "LN", "NM", "7.1", "mg/dL", "8.6-10.3", "LL"),
    Test("1751-7", "Albumin", "LN", "NM", "4.1", "g/dL", "3.5-5.0", "N"),
    Test("GFRE", "eGFR", "99LAB", "SN", ">^90", "mL/min/{1.73_m2}", ">60", "N"),
    Test("HEMOL", "Hemolysis index", "99LAB", "CWE", "N^None^99LAB", "", "", ""),
]
LIPID = [
    Test("2093-3", "Cholesterol", "LN", "NM", "212", "mg/dL", "<200", "H"),
    Test("2571-8", "Triglyceride", "LN", "NM", "150", "mg/dL", "<150", "N"),
    Test("2085-9", "HDL", "LN", "NM", "38", "mg/dL", ">40", "L"),
    Test("13457-7", "LDL calc", "LN", "NM", "144", "mg/dL", "<100", "H"),
    Test("9830-1", "Chol/HDL", "LN", "SN", "^5.6^:^1", "", "", ""),
    Test("LPA", "Lp(a)", "99LAB", "SN", "<^5", "mg/dL", "<30", "N"),
    Test("NONHDL", "Non-HDL", "99LAB", "SN", "^170^-^175", "mg/dL", "", "H"),
    Test("FAST", "Fasting", "99LAB", "ST", "Yes", "", "", ""),
    Test("APOB", "ApoB", "99LAB", "NM", "1.1", "g/L", "0.6-1.2", "N"),
    Test(
        "COMM",
        "Comment",
        "99LAB",
        "FT",
        "Pt fasting 12h\\.br\\Ratio \\F\\ risk \\S\\ high",
        "",
        "",
        "",
    ),
]


def msh(kind: str, control: str, *, sending: str = "LABSYS^^", charset: str = "") -> str:
    fields = [
        "MSH", "^~\\&", sending.rstrip("^"), "GOODHEALTH", "MEDREC", "HOSP",
        "20240301101500+0100", "", kind, control, "P", "2.5.1",
        "", "", "", "", "", charset,
    ]  # fmt: skip
    return "|".join(fields).rstrip("|")


def pid(mrn: str = "MRN1001", family: str = "Müller", given: str = "Anna") -> str:
    return (
        f"PID|1||{mrn}^^^{AUTHORITY}^MR~SS123^^^SSA^SS||{family}^{given}^Maria^^Dr^^L||"
        "19800215|F|||Hauptstraße 5^Apt 2^Springfield^IL^62701^USA^H||"
        "^PRN^PH^^1^217^5551234~^NET^Internet^anna@example.org|^WPN^PH^^1^217^5559999||M"
    )


def pv1(visit: str = "V5001", klass: str = "O") -> str:
    return (
        f"PV1|1|{klass}|CLINIC^101^A||||1234^Welby^Marcus^^^Dr||||||||||||"
        f"{visit}^^^{AUTHORITY}^VN|||||||||||||||||||||||||20240301090000"
    )


def obx(number: int, test: Test, status: str = "F") -> str:
    code = f"{test.code}^{test.name}^{test.system}"
    return (
        f"OBX|{number}|{test.kind}|{code}||{test.value}|{test.units}|{test.range_}|"
        f"{test.flag}|||{status}|||20240301083000+0100"
    )


def oru(
    control: str,
    panel: list[Test] | None = None,
    *,
    mrn: str = "MRN1001",
    order: str = "ORD1",
    observations: int | None = None,
    charset: str = "",
    family: str = "Müller",
) -> str:
    tests = panel if panel is not None else CBC
    if observations is not None:
        tests = [CBC[n % 9] for n in range(observations)]  # numeric ones
    segments = [
        msh("ORU^R01^ORU_R01", control, charset=charset),
        pid(mrn, family),
        "NTE|1||Patient info \\E\\ remarks",
        pv1(),
        f"ORC|RE|{order}^EPIC|F{order}^LAB||CM",
        f"OBR|1|{order}^EPIC|F{order}^LAB|58410-2^CBC panel^LN|||20240301080000+0100|||||||||"
        "1234^Welby^Marcus^^^Dr||||||20240301101000+0100|||F",
        "NTE|1||Sample received \\.br\\ on ice",
    ]
    for number, test in enumerate(tests, start=1):
        segments.append(obx(number, test))
        if number == 1:
            segments.append("NTE|1||Repeat \\X41\\ confirmed~second line")
    segments.append(
        f"SPM|1|S{order}&EPIC^F{order}&LAB||119297000^Blood specimen^SCT|||||||||||||"
        "20240301080000+0100|20240301083000+0100"
    )
    return "\r".join(segments) + "\r"


def adt(
    event: str, control: str, *, mrn: str = "MRN1001", visit: str = "V5001", **pid_kw: str
) -> str:
    structure = {"A01": "ADT_A01", "A04": "ADT_A01", "A08": "ADT_A01", "A03": "ADT_A03"}[event]
    segments = [
        msh(f"ADT^{event}^{structure}", control),
        f"EVN|{event}|20240301101500",
        pid(mrn, **pid_kw),
        "NK1|1|Müller^Hans|SPO^Spouse^HL70063|Hauptstraße 5^^Springfield^IL^62701|"
        "^PRN^PH^^1^217^5551235",
        pv1(visit, "I"),
    ]
    if event == "A03":
        segments[-1] += "|20240305120000"
    return "\r".join(segments) + "\r"


def merge(control: str, *, survivor: str, losing: str) -> str:
    segments = [
        msh("ADT^A40^ADT_A39", control),
        "EVN|A40|20240301101500",
        pid(survivor),
        f"MRG|{losing}^^^{AUTHORITY}^MR",
    ]
    return "\r".join(segments) + "\r"


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def mdm(control: str, *, mrn: str = "MRN1001") -> str:
    pdf = base64.b64encode(PDF).decode()
    segments = [
        msh("MDM^T02^MDM_T02", control),
        "EVN|T02|20240301101500",
        pid(mrn),
        pv1(),
        "TXA|1|DS|TX|20240301100000|1234^Welby^Marcus^^^Dr||||1234^Welby^Marcus^^^Dr|||"
        "DOC778^TRANSCRIBE|||||AU",
        "OBX|1|TX|DS^Discharge summary^HL70270||Discharged home\\.br\\Follow-up \\T\\ labs||||||F",
        f"OBX|2|ED|PDF^Scanned summary^L||^application^pdf^Base64^{pdf}||||||F",
        "OBX|3|RP|LINK^Imaging report^L||https://pacs.example.org/r/1||||||F",
    ]
    return "\r".join(segments) + "\r"


def frame(text: str | bytes, charset: str = "utf-8") -> bytes:
    body = text.encode(charset) if isinstance(text, str) else text
    return b"\x0b" + body + b"\x1c\r"
