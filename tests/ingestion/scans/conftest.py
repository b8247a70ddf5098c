"""Session fixtures: the synthetic corpus run through the image stages once, one Tesseract."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ingestion.scans.ocr import Ocr
from ingestion.scans.page import OcrResult
from tests.ingestion.scans.corpus import Processed, processed_corpus


@pytest.fixture(scope="session")
def corpus() -> list[Processed]:
    return processed_corpus()


@pytest.fixture(scope="session")
def ocr() -> Iterator[Ocr]:
    with Ocr() as engine:
        yield engine


@pytest.fixture(scope="session")
def read_corpus(corpus: list[Processed], ocr: Ocr) -> list[tuple[Processed, OcrResult]]:
    """Every corpus page OCRed once (the slow part), barcodes masked, for extraction and checks."""
    return [
        (item, ocr.read(item.normalized.gray, mask=[c.box for c in item.barcodes]))
        for item in corpus
    ]
