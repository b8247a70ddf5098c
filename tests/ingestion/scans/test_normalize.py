"""Deskew, 300 dpi and even lighting, on synthetic pages whose true skew and size are known."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest

from ingestion.scans import synthetic
from ingestion.scans.barcodes import read_barcodes
from ingestion.scans.colour import ColourClassifier
from ingestion.scans.normalize import estimate_skew, flatten, looks_gray, normalize
from ingestion.scans.ocr import Ocr
from ingestion.scans.page import PageImage, Pixels


def gray_page(
    rotation: float = 0.0, uneven_light: float = 0.0, dpi: int = 300
) -> tuple[Pixels, float]:
    degradation = synthetic.Degradation(
        "test", rotation=rotation, uneven_light=uneven_light, dpi=dpi
    )
    spec = synthetic.PageSpec(
        seed=11, layout="compact", colour=synthetic.NO_MARKER, degradation=degradation
    )
    image, _ = synthetic.render(spec)
    return np.asarray(image.convert("L")), float(spec.degradation.dpi)


@pytest.mark.parametrize("rotation", [-3.0, -1.2, 0.0, 0.7, 2.5])
def test_skew_is_measured_within_a_tenth_of_a_degree(rotation: float) -> None:
    pixels, dpi = gray_page(rotation)
    assert estimate_skew(pixels, dpi) == pytest.approx(rotation, abs=0.1)


def test_deskewed_page_has_no_skew_left() -> None:
    pixels, dpi = gray_page(2.4)
    page = normalize(PageImage(pixels, dpi, 0, "image"))
    assert page.skew_degrees == pytest.approx(2.4, abs=0.1)
    assert estimate_skew(page.gray, page.dpi) == pytest.approx(0.0, abs=0.1)
    # The canvas grew to keep the rotated corners.
    assert page.gray.shape[1] > pixels.shape[1]


def test_low_resolution_scan_is_brought_to_300_dpi() -> None:
    pixels, dpi = gray_page(dpi=150)
    assert dpi == 150
    page = normalize(PageImage(pixels, dpi, 0, "image"))
    assert page.dpi == 300
    assert page.gray.shape == (pixels.shape[0] * 2, pixels.shape[1] * 2)
    assert page.source_dpi == 150 and not page.source_dpi_assumed


def test_unknown_resolution_is_assumed_from_the_page_shape() -> None:
    pixels, _ = gray_page(dpi=150)
    page = normalize(PageImage(pixels, None, 0, "image"))
    assert page.source_dpi_assumed
    assert page.source_dpi == pytest.approx(150, rel=0.03)
    assert page.gray.shape[1] == pytest.approx(2 * pixels.shape[1], rel=0.03)


def test_flatten_evens_out_the_light_and_keeps_the_ink() -> None:
    pixels, _ = gray_page(uneven_light=0.45)
    flat = flatten(pixels, 300)
    strip = slice(40, 60)  # a blank strip along the top margin, across the whole width
    assert float(np.ptp(pixels[strip].mean(axis=0))) > 20  # the light falls off
    assert float(np.ptp(flat[strip].mean(axis=0))) < 10
    assert int(np.percentile(flat, 0.5)) < 90  # ink stays dark: no thresholding


def test_grayscale_scans_have_no_colour_copy() -> None:
    image, _ = synthetic.render(synthetic.PageSpec(seed=3))
    rgb = np.asarray(image)
    gray_as_rgb = np.repeat(np.asarray(image.convert("L"))[:, :, None], 3, axis=2)
    assert not looks_gray(rgb)
    assert looks_gray(gray_as_rgb)
    assert normalize(PageImage(gray_as_rgb, 300, 0, "image")).colour is None
    colour = normalize(PageImage(rgb, 300, 0, "image")).colour
    assert colour is not None
    assert colour.shape[1] == pytest.approx(rgb.shape[1] / 6, abs=2)  # 50 dpi


def test_no_adaptive_thresholding() -> None:
    # Tesseract does worse on binarized pages: the normalized page keeps its grey levels.
    blurred = synthetic.degradation("blurred", random.Random(1))
    spec = replace(synthetic.PageSpec(seed=5), degradation=blurred)
    image, _ = synthetic.render(spec)
    page = normalize(PageImage(np.asarray(image), 300, 0, "image"))
    assert len(np.unique(page.gray)) > 64


@pytest.mark.parametrize("shape", [(1, 1), (1, 1, 3), (3, 2, 3), (5, 5000, 3), (5000, 5)])
@pytest.mark.parametrize("dpi", [None, 72.0, 1200.0])
def test_tiny_and_odd_pages_pass_every_stage(
    shape: tuple[int, ...], dpi: float | None, ocr: Ocr
) -> None:
    pixels = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    page = normalize(PageImage(pixels, dpi, 0, "image"))
    assert min(page.gray.shape) >= 1
    assert read_barcodes(page.gray) == []
    assert ColourClassifier().classify(page).category == "unknown"
    ocr.read(page.gray)
