"""Every barcode on clean and degraded pages, with its symbology and where it is."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ingestion.scans import synthetic
from ingestion.scans.barcodes import _zbar_code128, read_barcodes
from ingestion.scans.normalize import normalize
from ingestion.scans.page import as_pixels
from ingestion.scans.rasterize import rasterize
from tests.ingestion.scans.corpus import Processed


def test_every_code_on_every_page_is_read(corpus: list[Processed]) -> None:
    presets = set()
    for item in corpus:
        read = {code.symbology: code.text for code in item.barcodes}
        assert read == item.page.truth.barcodes, item.page.spec.degradation
        presets.add(item.page.spec.degradation.name)
    assert presets == set(synthetic.PRESETS)  # clean and every degradation


def test_boxes_cover_the_codes(corpus: list[Processed]) -> None:
    for item in corpus:
        gray = item.normalized.gray
        for code in item.barcodes:
            box = code.box
            assert 0 <= box.left < box.right <= gray.shape[1]
            assert 0 <= box.top < box.bottom <= gray.shape[0]
            if code.symbology == "code128":
                assert box.width > 2 * box.height or box.width > 300  # a wide 1D code
            else:
                assert 0.7 < box.width / box.height < 1.4  # square 2D codes
            # Bars and modules: the box holds plenty of ink.
            assert float(gray[box.top : box.bottom, box.left : box.right].mean()) < 200


def test_half_size_retry_reads_a_badly_blurred_code() -> None:
    spec = synthetic.PageSpec(
        seed=24,  # a page whose Code128 zxing misses at full size
        symbology_2d="qr",
        degradation=synthetic.Degradation("very blurred", blur=2.6, noise=12.0, jpeg_quality=50),
    )
    page = synthetic.page(spec)
    [image] = rasterize(page.data)
    gray = normalize(image).gray
    plain = read_barcodes(gray, half_size_retry=False, zbar_fallback=False)
    assert "code128" not in {code.symbology for code in plain}  # too blurred at full size
    codes = read_barcodes(gray, zbar_fallback=False)
    assert {c.symbology: c.text for c in codes} == page.truth.barcodes
    assert [c.reader for c in codes if c.symbology == "code128"] == ["zxing-half"]
    assert {c.symbology: c.text for c in read_barcodes(gray)} == page.truth.barcodes


def test_separator_sheets_in_a_batch_pdf() -> None:
    batch = synthetic.batch(seed=5, documents=2, pages_per_document=(1, 1), unsorted=0)
    for image, truth in zip(rasterize(batch.data), batch.pages, strict=True):
        read = {code.symbology: code.text for code in read_barcodes(normalize(image).gray)}
        assert read == truth.barcodes
        if truth.kind == "separator":
            assert read["code128"] == f"MEDSEP:{truth.mrn}:{truth.category}"


def test_zbar_fallback_reads_code128() -> None:
    pytest.importorskip("pyzbar.pyzbar")
    image, truth = synthetic.render(synthetic.PageSpec(seed=4))
    gray = as_pixels(cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2GRAY))
    [code] = _zbar_code128(gray)
    assert code.text == truth.barcodes["code128"]
    assert code.reader == "zbar"


def test_blank_page_has_no_codes() -> None:
    assert read_barcodes(np.full((3508, 2480), 250, dtype=np.uint8)) == []
