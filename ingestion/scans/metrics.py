"""Scoring OCR against ground truth: text in reading order and character error rate.

Tesseract's own order follows its text blocks, which splits a table row into columns; the
ground truth is written row by row. So both are compared in geometric order: words grouped
into rows by vertical overlap, rows top to bottom, words left to right.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ingestion.scans.extract.rows import text_rows
from ingestion.scans.page import OcrWord


def reading_order(words: Sequence[OcrWord]) -> list[str]:
    """The words as text rows, top to bottom, each row left to right."""
    return [row.text for row in text_rows(words)]


def normalize_text(text: str) -> str:
    return " ".join(text.split())


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance, a row at a time in numpy (a page is ~2,000 characters)."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    target = np.frombuffer(b.encode("utf-32-le"), dtype=np.uint32)
    positions = np.arange(len(b) + 1, dtype=np.int64)
    previous = positions.copy()
    for i, char in enumerate(a, start=1):
        substitution = previous[:-1] + (target != ord(char))
        deletion = previous[1:] + 1
        best = np.minimum(substitution, deletion)
        # Insertions chain along the row: current[j] = min_k (best[k] + j - k), a running min.
        current = np.empty_like(previous)
        current[0] = i
        current[1:] = best
        current = np.minimum.accumulate(current - positions) + positions
        previous = current
    return int(previous[-1])


def character_error_rate(truth: str, read: str) -> float:
    """Edit distance ÷ length of the truth, whitespace runs counted as one space."""
    expected, got = normalize_text(truth), normalize_text(read)
    if not expected:
        return 0.0 if not got else 1.0
    return edit_distance(expected, got) / len(expected)
