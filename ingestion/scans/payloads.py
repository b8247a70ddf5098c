"""The barcode payloads medrec prints and reads: the one place their format is defined.

    document page   Code128 ``<MRN>`` and DataMatrix/QR ``MEDDOC:<MRN>:<category>:<document id>``
    cover sheet     Code128 and QR, both ``MEDSEP:<MRN>:<category>``
    calibration     Code128 and QR, both ``MEDCAL:<colour>,<colour>,...`` (patch order)

Fields are separated by ``:``, so no field may contain one; an empty document id means the label
was printed before a document id was assigned. Labels (``ingestion.labels``), the batch splitter
(``split.py``) and the synthetic corpus all use these functions.
"""

from __future__ import annotations

from dataclasses import dataclass

DOCUMENT_PREFIX = "MEDDOC:"
SEPARATOR_PREFIX = "MEDSEP:"
CALIBRATION_PREFIX = "MEDCAL:"


class PayloadError(ValueError):
    """A field cannot be put in a payload (empty, or it holds the separator ``:``)."""


@dataclass(frozen=True, slots=True)
class DocumentCode:
    mrn: str
    category: str
    document_id: str | None  # None: printed before an id was assigned


@dataclass(frozen=True, slots=True)
class SeparatorCode:
    mrn: str
    category: str


def _field(name: str, value: str, *, empty_ok: bool = False) -> str:
    if (not value and not empty_ok) or ":" in value or value != value.strip():
        raise PayloadError(f"the {name} cannot be put in a barcode payload")
    return value


def document_payload(mrn: str, category: str, document_id: str | None) -> str:
    return (
        f"{DOCUMENT_PREFIX}{_field('MRN', mrn)}:{_field('category', category)}:"
        f"{_field('document id', document_id or '', empty_ok=True)}"
    )


def separator_payload(mrn: str, category: str) -> str:
    return f"{SEPARATOR_PREFIX}{_field('MRN', mrn)}:{_field('category', category)}"


def calibration_payload(colours: list[str] | tuple[str, ...]) -> str:
    if not colours:
        raise PayloadError("a calibration card needs at least one colour")
    for colour in colours:
        if "," in colour:
            raise PayloadError("a colour code cannot be put in a calibration payload")
        _field("colour", colour)
    return CALIBRATION_PREFIX + ",".join(colours)


def is_separator(text: str) -> bool:
    return text.startswith(SEPARATOR_PREFIX)


def is_document(text: str) -> bool:
    return text.startswith(DOCUMENT_PREFIX)


def parse_document(text: str) -> DocumentCode | None:
    """The fields of a ``MEDDOC`` payload; None if it is not one or is malformed."""
    if not is_document(text):
        return None
    fields = text.removeprefix(DOCUMENT_PREFIX).split(":")
    if len(fields) != 3 or not fields[0] or not fields[1]:
        return None
    return DocumentCode(fields[0], fields[1], fields[2] or None)


def parse_separator(text: str) -> SeparatorCode | None:
    """The fields of a ``MEDSEP`` payload; None if it is not one or is malformed."""
    if not is_separator(text):
        return None
    fields = text.removeprefix(SEPARATOR_PREFIX).split(":")
    if len(fields) != 2 or not all(fields):
        return None
    return SeparatorCode(fields[0], fields[1])


def parse_calibration(text: str) -> tuple[str, ...] | None:
    """The patch colours of a calibration card, in order; None if not a calibration payload."""
    if not text.startswith(CALIBRATION_PREFIX):
        return None
    colours = tuple(text.removeprefix(CALIBRATION_PREFIX).split(","))
    return colours if all(colours) else None
