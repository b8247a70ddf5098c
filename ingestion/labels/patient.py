"""What a label says about the patient."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LabelPatient:
    mrn: str
    name: str  # as it should be printed: "Jansen, Maria"
    birth_date: dt.date

    @property
    def birth_date_text(self) -> str:
        # ISO order: never ambiguous between day-month and month-day readers.
        return self.birth_date.isoformat()
