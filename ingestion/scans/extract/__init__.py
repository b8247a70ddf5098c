"""Step 6 of the pipeline: an OCR result → typed fields, each with a confidence.

    page = extract(ocr_result)            # Page(header=Header(...), lab_rows=[LabRowFields])
    page.header.birth_date                # Field(value=date(1985, 7, 3), confidence=0.96, ...)

Nothing here decides what is committed: ``checks.py`` does, from these fields and the barcodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ingestion.scans.extract.fields import Field
from ingestion.scans.extract.header import Header, extract_header
from ingestion.scans.extract.rows import text_rows
from ingestion.scans.extract.table import LabRowFields, extract_table
from ingestion.scans.page import CellReader, OcrResult

__all__ = ["Field", "Header", "LabRowFields", "Page", "extract"]


@dataclass(frozen=True, slots=True)
class Page:
    header: Header
    lab_rows: tuple[LabRowFields, ...]
    reread: CellReader | None = field(default=None, compare=False, repr=False)  # OcrResult.reread


def extract(result: OcrResult, *, day_first: bool = True) -> Page:
    """The header fields and lab rows of one page. ``day_first``: the reading preferred for an
    ambiguous numeric date (it stays low-confidence either way)."""
    rows = text_rows(result.words)
    header = extract_header(rows, day_first=day_first)
    return Page(header, tuple(extract_table(rows)), result.reread)
