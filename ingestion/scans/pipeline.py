"""Steps 1-7 for a whole file: every page rasterized, normalized, its barcodes, colour, OCR
text, fields and checks; a page that cannot be read becomes a ``PageFailure`` and the others
are still read. Separator sheets are recognised by their barcodes and not OCRed.

CPU-bound and not thread-safe (PDFium, Tesseract): one ``Pipeline`` per thread or process.
``pool.py`` runs one in each of several processes; this one reads a file serially.
"""

from __future__ import annotations

from dataclasses import dataclass

from ingestion.scans.barcodes import read_barcodes
from ingestion.scans.checks import PageDecision, check_page
from ingestion.scans.colour import ColourClassifier
from ingestion.scans.errors import ScanError
from ingestion.scans.extract import extract
from ingestion.scans.normalize import normalize
from ingestion.scans.ocr import Ocr
from ingestion.scans.page import Barcode, ColourMatch, PageImage
from ingestion.scans.payloads import is_separator
from ingestion.scans.rasterize import DEFAULT_MAX_PIXELS, Kind, open_scan


@dataclass(frozen=True, slots=True, eq=False)
class PageReading:
    index: int
    image: PageImage
    barcodes: tuple[Barcode, ...]
    colour: ColourMatch
    text: str  # the OCR text; "" for a separator sheet
    decision: PageDecision | None  # None for a separator sheet

    @property
    def separator(self) -> bool:
        return self.decision is None


@dataclass(frozen=True, slots=True, eq=False)
class PageFindings:
    """What a page says, without its pixels: what a worker process sends back (a page's
    pixels are tens of megabytes; the process that rasterized it keeps them)."""

    barcodes: tuple[Barcode, ...]
    colour: ColourMatch
    text: str
    decision: PageDecision | None

    def reading(self, image: PageImage) -> PageReading:
        return PageReading(image.index, image, self.barcodes, self.colour, self.text, self.decision)


@dataclass(frozen=True, slots=True)
class PageFailure:
    index: int
    error: str  # from ``ScanError``: describes the file, never its contents


@dataclass(frozen=True, slots=True, eq=False)
class FileReading:
    kind: Kind | None
    pages: tuple[PageReading | PageFailure, ...]
    error: str | None = None  # the whole file could not be opened


class Pipeline:
    def __init__(
        self,
        ocr: Ocr,
        classifier: ColourClassifier | None = None,
        *,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        self.ocr = ocr
        self.classifier = classifier or ColourClassifier()
        self.max_pixels = max_pixels

    def read_file(self, data: bytes) -> FileReading:
        try:
            scan = open_scan(data, max_pixels=self.max_pixels)
        except ScanError as error:
            return FileReading(None, (), str(error))
        with scan:
            pages: list[PageReading | PageFailure] = []
            for index in range(scan.page_count):
                try:
                    pages.append(self.read_page(scan.page(index)))
                except ScanError as error:
                    pages.append(PageFailure(index, str(error)))
            return FileReading(scan.kind, tuple(pages))

    def read_page(self, image: PageImage) -> PageReading:
        return self.examine(image).reading(image)

    def examine(self, image: PageImage) -> PageFindings:
        page = normalize(image)
        codes = tuple(read_barcodes(page.gray))
        colour = self.classifier.classify(page)
        if any(is_separator(code.text) for code in codes):
            return PageFindings(codes, colour, "", None)
        result = self.ocr.read(page.gray, dpi=page.dpi, mask=[code.box for code in codes])
        return PageFindings(codes, colour, result.text, check_page(extract(result), codes))
