"""The patient header: labelled fields ("MRN: 55515067", "DOB: 3 Jul 1985", "Requested by ...").

A printed row may hold several fields side by side ("Name: ... MRN: ..."): a field's value is
the text from its label to the next label or the end of the row.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ingestion.scans.extract.dates import parse_date
from ingestion.scans.extract.fields import Field, field_from
from ingestion.scans.extract.rows import TextRow
from ingestion.scans.page import OcrWord

NAME_ODD = 0.5  # a name with digits or symbols in it
MRN_REPAIRED = 0.8  # letters read for digits
MRN_ODD_LENGTH = 0.5
MRN_LENGTHS = range(6, 13)
UNLABELLED = 0.95  # clinic from "Department of ...": a heading, not a labelled field

# (field, label pattern); longer labels first so that "Patient name" is not read as "Patient".
# Labels of "name: value" fields need their colon; the others are followed by the value.
_COLON_LABELS = (
    ("name", r"patient\s+name"),
    ("birth_date", r"date\s+of\s+birth|birth\s*date|d\.?o\.?b\.?"),
    ("mrn", r"mrn|medical\s+record\s+(?:number|no\.?)"),
    ("sex", r"sex|gender"),
    ("document_id", r"document\s+id|doc(?:ument)?\.?\s*(?:no\.?|number)|document"),
    ("collected", r"collected|collection\s+date|date\s+collected"),
    ("clinic", r"clinic"),
    ("physician", r"ordering\s+physician|physician|doctor"),
    ("name", r"patient|name"),
)
_BARE_LABELS = (
    ("physician", r"requested\s+by|ordered\s+by"),
    ("clinic", r"department\s+of"),
    ("printed", r"printed(?:\s+on)?"),
)
_LABELS = [(f, rf"(?<![\w])(?:{p})\s*[:;]") for f, p in _COLON_LABELS] + [
    (f, rf"(?<![\w])(?:{p})(?=\s)") for f, p in _BARE_LABELS
]
_LABEL = re.compile("|".join(f"(?P<g{i}>{p})" for i, (_, p) in enumerate(_LABELS)), re.IGNORECASE)
_NAME_OK = re.compile(r"^[^\W\d_]+(?:[ '’.-][^\W\d_]*)*$")
_PARTICLES = frozenset(
    {"de", "den", "der", "van", "von", "la", "le", "du", "di", "da", "ten", "ter"}
)
_SEXES = {"f": "female", "female": "female", "m": "male", "male": "male", "u": "unknown",
          "unknown": "unknown", "x": "other", "o": "other", "other": "other"}  # fmt: skip
_MRN_DIGITS = str.maketrans({"O": "0", "o": "0", "D": "0", "l": "1", "I": "1", "|": "1",
                             "S": "5", "B": "8", "Z": "2"})  # fmt: skip


@dataclass(frozen=True, slots=True)
class Header:
    """The patient header. A field not found on the page is None."""

    name: Field[str] | None = None
    birth_date: Field[dt.date] | None = None
    mrn: Field[str] | None = None
    sex: Field[str] | None = None  # FHIR administrative gender
    document_id: Field[str] | None = None
    collected: Field[dt.date] | None = None
    printed: Field[dt.date] | None = None
    clinic: Field[str] | None = None
    physician: Field[str] | None = None


@dataclass(frozen=True, slots=True)
class _Labelled:
    field: str
    words: tuple[OcrWord, ...]
    text: str
    bare: bool  # an unlabelled heading ("Department of ...")


def extract_header(rows: Iterable[TextRow], *, day_first: bool = True) -> Header:
    found: dict[str, Field[object]] = {}
    for labelled in _labelled(rows):
        parsed = _parse(labelled, day_first)
        if parsed is None:
            continue
        known = found.get(labelled.field)
        if known is None or parsed.confidence > known.confidence:
            found[labelled.field] = parsed
    return Header(**found)  # type: ignore[arg-type]


def _labelled(rows: Iterable[TextRow]) -> list[_Labelled]:
    result = []
    for row in rows:
        text = row.text
        matches = list(_LABEL.finditer(text))
        for i, match in enumerate(matches):
            end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
            value = text[match.end() : end].strip(" ,;:")
            if not value:
                continue
            start = text.index(value, match.end())
            index = int(next(k for k, v in match.groupdict().items() if v)[1:])
            words = row.words_in(start, start + len(value))
            bare = _LABELS[index][0] == "clinic" and index >= len(_COLON_LABELS)
            result.append(_Labelled(_LABELS[index][0], words, value, bare))
    return result


def _parse(labelled: _Labelled, day_first: bool) -> Field[object] | None:
    words, text = labelled.words, labelled.text
    match labelled.field:
        case "name":
            return _name(words, text)
        case "birth_date" | "collected" | "printed":
            date = parse_date(text, day_first=day_first)
            if date is None:
                return None
            return field_from(date.value, words, date.certainty, date.notes, date.alternatives)
        case "mrn":
            return _mrn(words)
        case "sex":
            sex = _SEXES.get(text.split()[0].lower().rstrip("."))
            return None if sex is None else field_from(sex, words[:1])
        case "document_id":
            return field_from(words[0].text.strip(".,;"), words[:1])
        case "clinic":
            return field_from(text, words, UNLABELLED if labelled.bare else 1.0)
        case "physician":
            return field_from(text, words)
    return None


def _name(words: Sequence[OcrWord], text: str) -> Field[object]:
    """Display order, "Given Family"; "FAMILY, Given" is turned round and recased."""
    notes: list[str] = []
    if "," in text:
        family, _, given = (part.strip() for part in text.partition(","))
        if family.isupper():
            family = _recased(family)
        text = f"{given} {family}".strip()
        notes.append("family name first")
    certainty = 1.0 if _NAME_OK.match(text) else NAME_ODD
    if certainty < 1.0:
        notes.append("unexpected characters in a name")
    return field_from(text, words, certainty, notes)


def _recased(family: str) -> str:
    words = family.lower().split()
    return " ".join(w if w in _PARTICLES else "-".join(p.capitalize() for p in w.split("-"))
                    for w in words)  # fmt: skip


def _mrn(words: Sequence[OcrWord]) -> Field[object] | None:
    if not words:
        return None
    token = words[0].text.strip(".,;:")
    certainty, notes = 1.0, []
    digits = token.translate(_MRN_DIGITS)
    if digits != token:
        certainty, notes = MRN_REPAIRED, ["letters read as digits"]
    if not digits.isdigit():
        return None
    if len(digits) not in MRN_LENGTHS:
        certainty *= MRN_ODD_LENGTH
        notes.append("unusual length")
    return field_from(digits, words[:1], certainty, notes)
