"""Render → rasterize at 300 dpi → normalize → barcodes and colour: what a scan of a print sees."""

from __future__ import annotations

from dataclasses import dataclass

from ingestion.scans.barcodes import read_barcodes
from ingestion.scans.colour import ColourClassifier
from ingestion.scans.normalize import normalize
from ingestion.scans.page import ColourMatch, NormalizedPage, PageImage, Symbology
from ingestion.scans.rasterize import rasterize


@dataclass(frozen=True)
class ReadPage:
    image: PageImage
    page: NormalizedPage
    codes: dict[Symbology, str]
    colour: ColourMatch


def read_pdf(pdf: bytes) -> list[ReadPage]:
    pages = []
    for image in rasterize(pdf):
        assert image.dpi == 300  # vector pages are rendered at 300 dpi
        page = normalize(image)
        codes = {code.symbology: code.text for code in read_barcodes(page.gray)}
        pages.append(ReadPage(image, page, codes, ColourClassifier().classify(page)))
    return pages
