"""Character error rate and reading order: the yardsticks of the OCR tests and the benchmark."""

from __future__ import annotations

import random

from ingestion.scans.metrics import character_error_rate, edit_distance, reading_order
from ingestion.scans.page import Box, OcrWord


def reference_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        previous, row[0] = row[:], i
        for j, cb in enumerate(b, start=1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (ca != cb))
    return row[-1]


def test_edit_distance_matches_the_textbook_algorithm() -> None:
    rng = random.Random(3)
    for _ in range(300):
        a = "".join(rng.choice("ab c.µ") for _ in range(rng.randrange(30)))
        b = "".join(rng.choice("ab c.µ") for _ in range(rng.randrange(30)))
        assert edit_distance(a, b) == reference_distance(a, b), (a, b)


def test_character_error_rate() -> None:
    assert character_error_rate("Potassium 3.7", "Potassium 3.7") == 0.0
    assert character_error_rate("Potassium 3.7", "Potassium  37") == 1 / 13  # lost "."
    assert character_error_rate("a\n  b", "a b") == 0.0  # whitespace runs are one space
    assert character_error_rate("", "") == 0.0


def word(text: str, left: int, top: int, height: int = 30) -> OcrWord:
    return OcrWord(text, 90.0, Box(left, top, left + 20 * len(text), top + height), 0)


def test_reading_order_rebuilds_table_rows() -> None:
    # Tesseract gives a table column by column; rows are what the ground truth holds.
    words = [
        word("Sodium", 100, 500),
        word("Potassium", 100, 550),
        word("140", 600, 503),
        word("4.1", 600, 548),
        word("mmol/L", 800, 501),
        word("mmol/L", 800, 552),
    ]
    assert reading_order(words) == ["Sodium 140 mmol/L", "Potassium 4.1 mmol/L"]
