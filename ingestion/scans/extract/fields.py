"""What extraction returns: a typed value with the text it came from and a confidence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from ingestion.scans.page import Box, OcrWord

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Field(Generic[T]):
    """One extracted value.

    ``confidence`` (0-1) is the lowest OCR confidence of the words it was read from times the
    parse certainty: one misread word is enough to make a field wrong, so the weakest word
    counts, not the mean. ``notes`` say why the parse was less than certain;
    ``alternatives`` are other readings of the same text (a date that may be day or month
    first).
    """

    value: T
    text: str
    confidence: float
    box: Box | None = None
    notes: tuple[str, ...] = ()
    alternatives: tuple[T, ...] = ()


def ocr_confidence(words: Sequence[OcrWord]) -> float:
    """The weakest word's confidence, 0-1 (0 for no words)."""
    return min((word.confidence for word in words), default=0.0) / 100


def bounding_box(words: Sequence[OcrWord]) -> Box | None:
    if not words:
        return None
    return Box(
        min(w.box.left for w in words),
        min(w.box.top for w in words),
        max(w.box.right for w in words),
        max(w.box.bottom for w in words),
    )


def field_from(
    value: T,
    words: Sequence[OcrWord],
    certainty: float = 1.0,
    notes: Sequence[str] = (),
    alternatives: Sequence[T] = (),
) -> Field[T]:
    text = " ".join(word.text for word in words)
    confidence = round(ocr_confidence(words) * certainty, 3)
    return Field(value, text, confidence, bounding_box(words), tuple(notes), tuple(alternatives))
