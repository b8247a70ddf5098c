"""Session fixtures: the synthetic corpus run through the image stages once, one Tesseract."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ingestion.scans.ocr import Ocr
from tests.ingestion.scans.corpus import Processed, processed_corpus


@pytest.fixture(scope="session")
def corpus() -> list[Processed]:
    return processed_corpus()


@pytest.fixture(scope="session")
def ocr() -> Iterator[Ocr]:
    with Ocr() as engine:
        yield engine
