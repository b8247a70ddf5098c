"""OCR against the ground truth, barcodes masked, and finding the language data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ingestion.scans import ocr as ocr_module
from ingestion.scans.metrics import character_error_rate, reading_order
from ingestion.scans.ocr import Ocr, TessdataNotFound, find_tessdata
from ingestion.scans.page import Box
from tests.ingestion.scans.corpus import Processed

# Character error rate bounds per page. Measured: 0.9-2.5% on clean pages (a logo read as a
# letter, "3.9 - 5.6" read as "3.9-5.6"), 0.7-3.7% on degraded ones; unmasked barcodes alone
# cost several percent. The bounds leave room for other Tesseract versions.
CLEAN_CER = 0.03
DEGRADED_CER = 0.06
MEAN_CER = 0.03
OCR_PRESETS = ("clean", "rotated", "150 dpi", "jpeg 40", "grayscale", "combined")


def overlaps(a: Box, b: Box) -> bool:
    return a.left < b.right and b.left < a.right and a.top < b.bottom and b.top < a.bottom


@pytest.fixture(scope="module")
def read_pages(corpus: list[Processed], ocr: Ocr) -> list[tuple[Processed, float]]:
    result = []
    for item in corpus:
        if item.page.spec.degradation.name in OCR_PRESETS:
            read = ocr.read(item.normalized.gray, mask=[code.box for code in item.barcodes])
            text = "\n".join(reading_order(read.words))
            result.append((item, character_error_rate(item.page.truth.text, text)))
    return result


def test_text_matches_ground_truth(read_pages: list[tuple[Processed, float]]) -> None:
    assert {item.page.spec.degradation.name for item, _ in read_pages} == set(OCR_PRESETS)
    for item, cer in read_pages:
        bound = CLEAN_CER if item.page.spec.degradation.name == "clean" else DEGRADED_CER
        assert cer <= bound, (item.page.spec.degradation.name, cer)
    assert sum(cer for _, cer in read_pages) / len(read_pages) <= MEAN_CER


def test_words_and_lines_carry_confidences_and_boxes(corpus: list[Processed], ocr: Ocr) -> None:
    item = corpus[0]
    result = ocr.read(item.normalized.gray, mask=[code.box for code in item.barcodes])
    assert len(result.words) > 50
    assert all(0 <= word.confidence <= 100 for word in result.words)
    assert sum(word.confidence for word in result.words) / len(result.words) > 80
    for word in result.words:
        line = result.lines[word.line]
        assert word.text in line.text
        assert line.box.left <= word.box.left and word.box.right <= line.box.right
    assert item.page.truth.mrn in result.text  # printed in the header, read by OCR


def test_masked_barcodes_give_no_junk(corpus: list[Processed], ocr: Ocr) -> None:
    item = corpus[0]
    boxes = [code.box for code in item.barcodes]
    masked = ocr.read(item.normalized.gray, mask=boxes)
    assert not [w for w in masked.words if any(overlaps(w.box, box) for box in boxes)]
    # Unmasked, Tesseract reads the bars and modules as words.
    unmasked = ocr.read(item.normalized.gray)
    assert [w for w in unmasked.words if any(overlaps(w.box, box) for box in boxes)]


def test_blank_page_reads_nothing(ocr: Ocr) -> None:
    result = ocr.read(np.full((1000, 800), 255, dtype=np.uint8))
    assert result.words == () and result.text == ""


def test_tessdata_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "tessdata").mkdir()
    (tmp_path / "tessdata" / "xyz.traineddata").write_bytes(b"")
    monkeypatch.setenv("TESSDATA_PREFIX", str(tmp_path))  # the parent, as Tesseract 3 wanted
    assert find_tessdata("xyz") == tmp_path / "tessdata"
    monkeypatch.setenv("TESSDATA_PREFIX", str(tmp_path / "tessdata"))
    assert find_tessdata("xyz") == tmp_path / "tessdata"


def test_missing_tessdata_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSDATA_PREFIX", str(tmp_path))
    monkeypatch.setattr(ocr_module, "TESSDATA_CANDIDATES", ())
    with pytest.raises(TessdataNotFound, match="tesseract-ocr-eng"):
        find_tessdata("eng")
    with pytest.raises(TessdataNotFound):
        Ocr()


def test_system_tessdata_is_found() -> None:
    assert (find_tessdata("eng") / "eng.traineddata").is_file()
