"""Why a file or a page could not be read: one exception type per cause, so a job can record a
clear per-page error. Messages describe the file, never its contents."""

from __future__ import annotations


class ScanError(Exception):
    """A scan the pipeline cannot read. ``page`` is the 0-based page, None for the whole file."""

    def __init__(self, message: str, *, page: int | None = None) -> None:
        super().__init__(message)
        self.page = page

    def __str__(self) -> str:
        message = super().__str__()
        return message if self.page is None else f"page {self.page + 1}: {message}"


class UnsupportedFormat(ScanError):
    """Not a PNG, JPEG, TIFF or PDF (judged by content, not by name)."""


class CorruptFile(ScanError):
    """The file claims a supported format but cannot be decoded."""


class TruncatedFile(CorruptFile):
    """The file ends early: an interrupted upload or copy."""


class EncryptedPdf(ScanError):
    """A password-protected PDF: we never guess passwords."""


class EmptyDocument(ScanError):
    """A file with no pages."""


class TooManyPixels(ScanError):
    """A page larger than the pixel cap: a decompression bomb, or a scan far above 600 dpi."""
