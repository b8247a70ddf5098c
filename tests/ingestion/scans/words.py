"""OCR results written by hand: printed rows of words with confidences, for table-driven tests."""

from __future__ import annotations

from collections.abc import Sequence

from ingestion.scans.page import Box, OcrLine, OcrResult, OcrWord

ROW_HEIGHT = 80
CHAR_WIDTH = 20


def row_words(
    cells: Sequence[tuple[int, str]], row: int, confidence: float = 95.0
) -> list[OcrWord]:
    """Words of one printed row: each cell is (x, text), its words split on spaces."""
    words = []
    top = 100 + row * ROW_HEIGHT
    for x, text in cells:
        left = x
        for part in text.split():
            width = len(part) * CHAR_WIDTH
            words.append(OcrWord(part, confidence, Box(left, top, left + width, top + 40), row))
            left += width + CHAR_WIDTH
    return words


def page_of(rows: Sequence[Sequence[tuple[int, str]]], confidence: float = 95.0) -> OcrResult:
    words = [w for i, cells in enumerate(rows) for w in row_words(cells, i, confidence)]
    lines = tuple(
        OcrLine(" ".join(t for _, t in cells), confidence, Box(0, 0, 1, 1)) for cells in rows
    )
    return OcrResult(tuple(words), lines)
