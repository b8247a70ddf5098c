"""What a label says about the patient."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from ingestion.labels.errors import LabelError

MRN_TYPE = ("http://terminology.hl7.org/CodeSystem/v2-0203", "MR")


@dataclass(frozen=True, slots=True)
class LabelPatient:
    mrn: str
    name: str  # as it should be printed: "Jansen, Maria"
    birth_date: dt.date

    @property
    def birth_date_text(self) -> str:
        # ISO order: never ambiguous between day-month and month-day readers.
        return self.birth_date.isoformat()


def patient_from_resource(resource: dict[str, Any]) -> LabelPatient:
    """A FHIR Patient's label fields: the identifier of type MR, the official name (else the
    first) printed "Family, Given", the birth date (a full date)."""
    mrn = next((i.get("value") for i in resource.get("identifier", []) if _is_mrn(i)), None)
    if not isinstance(mrn, str) or not mrn:
        raise LabelError("The Patient has no medical record number (identifier of type MR)")
    born = resource.get("birthDate")
    try:
        birth_date = dt.date.fromisoformat(born) if isinstance(born, str) else None
    except ValueError:
        birth_date = None
    if birth_date is None:
        raise LabelError("The Patient has no full birthDate to print on a label")
    return LabelPatient(mrn, _printed_name(resource.get("name", [])), birth_date)


def _is_mrn(identifier: Any) -> bool:
    if not isinstance(identifier, dict):
        return False
    codings = (identifier.get("type") or {}).get("coding", [])
    return any(
        isinstance(c, dict) and (c.get("system"), c.get("code")) == MRN_TYPE for c in codings
    )


def _printed_name(names: list[Any]) -> str:
    usable = [n for n in names if isinstance(n, dict)]
    name = next((n for n in usable if n.get("use") == "official"), usable[0] if usable else {})
    family = str(name.get("family", ""))
    given = " ".join(str(g) for g in name.get("given", []))
    return ", ".join(part for part in (family, given) if part) or str(name.get("text", ""))
