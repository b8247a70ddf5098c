"""What can go wrong with a message, in HL7 terms: the ERR segment's location and code."""

from __future__ import annotations

from dataclasses import dataclass

# HL7 table 0357 (message error condition codes) as far as we use them.
SEGMENT_SEQUENCE = "100"
REQUIRED_MISSING = "101"
DATA_TYPE = "102"
TABLE_VALUE = "103"
UNSUPPORTED_TYPE = "200"
UNSUPPORTED_EVENT = "201"
UNSUPPORTED_VERSION = "203"
UNKNOWN_KEY = "204"
DUPLICATE_KEY = "205"
INTERNAL = "207"

CODE_TEXT = {
    SEGMENT_SEQUENCE: "Segment sequence error",
    REQUIRED_MISSING: "Required field missing",
    DATA_TYPE: "Data type error",
    TABLE_VALUE: "Table value not found",
    UNSUPPORTED_TYPE: "Unsupported message type",
    UNSUPPORTED_EVENT: "Unsupported event code",
    UNSUPPORTED_VERSION: "Unsupported version id",
    UNKNOWN_KEY: "Unknown key identifier",
    DUPLICATE_KEY: "Duplicate key identifier",
    INTERNAL: "Application internal error",
}


@dataclass
class Hl7Error(Exception):
    """A message we cannot apply. ``rejected``: refused outright (AR: unsupported type,
    unreadable envelope); otherwise an application error (AE). Never holds patient data:
    the reason names where and what, not the value."""

    reason: str
    code: str = DATA_TYPE
    segment: str = ""
    sequence: int = 0  # 1-based position among segments of that name, 0: unknown
    field: int = 0
    component: int = 0
    rejected: bool = False

    def __post_init__(self) -> None:
        super().__init__(self.reason)

    @property
    def location(self) -> str:
        where = self.segment
        if self.field:
            where += f"-{self.field}"
        if self.component:
            where += f".{self.component}"
        return where

    def __str__(self) -> str:
        return f"{self.location}: {self.reason}" if self.location else self.reason


def rejected(reason: str, code: str, segment: str = "MSH", field: int = 0) -> Hl7Error:
    return Hl7Error(reason, code, segment, 1 if segment else 0, field, rejected=True)
