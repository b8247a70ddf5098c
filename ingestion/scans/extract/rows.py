"""OCR words regrouped into printed rows.

Tesseract's lines follow its text blocks: a two-column header or a table row comes back split
into columns. Fields are read along printed rows, so words are grouped by vertical overlap (as
``metrics.reading_order`` does), left to right, keeping each word's character span in the row's
text so that a parsed span can be traced back to its words and their confidences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ingestion.scans.page import OcrWord


@dataclass(frozen=True, slots=True)
class TextRow:
    words: tuple[OcrWord, ...]  # left to right

    @property
    def text(self) -> str:
        return " ".join(word.text for word in self.words)

    @property
    def top(self) -> int:
        return min(word.box.top for word in self.words)

    def words_in(self, start: int, end: int) -> tuple[OcrWord, ...]:
        """The words overlapping characters ``start:end`` of ``text``."""
        found = []
        position = 0
        for word in self.words:
            word_end = position + len(word.text)
            if position < end and start < word_end:
                found.append(word)
            position = word_end + 1
        return tuple(found)


def text_rows(words: Sequence[OcrWord]) -> list[TextRow]:
    """Words grouped into rows by vertical overlap, rows top to bottom."""
    rows: list[list[OcrWord]] = []
    for word in sorted(words, key=lambda w: (w.box.top + w.box.bottom) / 2):
        centre = (word.box.top + word.box.bottom) / 2
        if rows:
            last = rows[-1]
            top = sum(w.box.top for w in last) / len(last)
            bottom = sum(w.box.bottom for w in last) / len(last)
            if top <= centre <= bottom:
                last.append(word)
                continue
        rows.append([word])
    return [TextRow(tuple(sorted(row, key=lambda w: w.box.left))) for row in rows]
