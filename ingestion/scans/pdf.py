"""The bytes a document is stored as: the file as received when it is the whole document,
else (a document cut from a batch) its pages as a PDF of their original pixels, so that no
document carries another one's pages."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from ingestion.scans.document import ScannedDocument
from ingestion.scans.pipeline import FileReading

MEDIA_TYPES = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "tiff": "image/tiff",
    "pdf": "application/pdf",
}
DEFAULT_DPI = 300.0


@dataclass(frozen=True, slots=True)
class Content:
    content: bytes
    content_type: str


def document_content(
    document: ScannedDocument, reading: FileReading, data: bytes, *, single: bool
) -> Content:
    """``single``: the file holds this document alone (no separator sheets)."""
    if single and reading.kind is not None:
        return Content(data, MEDIA_TYPES[reading.kind])
    images = [Image.fromarray(page.image.pixels).convert("RGB") for page in document.pages]
    if not images:
        return Content(b"", "application/pdf")
    dpi = document.pages[0].image.dpi or DEFAULT_DPI
    buffer = io.BytesIO()
    images[0].save(buffer, "PDF", save_all=True, append_images=images[1:], resolution=dpi)
    return Content(buffer.getvalue(), "application/pdf")
