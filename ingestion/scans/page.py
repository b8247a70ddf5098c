"""The values the stages pass along and return: plain dataclasses, no behaviour beyond geometry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

import cv2
import numpy as np
import numpy.typing as npt

Pixels = npt.NDArray[np.uint8]
"""HxW (grayscale) or HxWx3 (RGB) 8-bit pixels."""


def as_pixels(array: npt.ArrayLike) -> Pixels:
    """An 8-bit view of an OpenCV result (typed loosely by its stubs); no copy when it is one."""
    return np.asarray(array, dtype=np.uint8)


def resized(pixels: Pixels, factor: float, interpolation: int = cv2.INTER_AREA) -> Pixels:
    """Pixels scaled by ``factor``, never below 1x1 (OpenCV refuses an empty size)."""
    height, width = pixels.shape[:2]
    if round(width * factor) >= 1 and round(height * factor) >= 1:
        # By factor, not by size: OpenCV averages exact 2x2 blocks for a factor of 0.5.
        return as_pixels(
            cv2.resize(pixels, None, fx=factor, fy=factor, interpolation=interpolation)
        )
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return as_pixels(cv2.resize(pixels, size, interpolation=interpolation))


Symbology = Literal["code128", "qr", "datamatrix"]
Shape = Literal["band", "side band", "sticker"]
Reader = Literal["zxing", "zxing-half", "zbar"]


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned pixel rectangle: ``right`` and ``bottom`` are exclusive."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    def scaled(self, factor: float) -> Box:
        return Box(
            round(self.left * factor),
            round(self.top * factor),
            round(self.right * factor),
            round(self.bottom * factor),
        )

    def shifted(self, x: int, y: int) -> Box:
        return Box(self.left + x, self.top + y, self.right + x, self.bottom + y)

    def padded(self, pixels: int) -> Box:
        return Box(self.left - pixels, self.top - pixels, self.right + pixels, self.bottom + pixels)


@dataclass(frozen=True, slots=True, eq=False)
class PageImage:
    """One page as scanned. ``dpi`` is None when the file does not say (or says nonsense)."""

    pixels: Pixels
    dpi: float | None
    index: int
    origin: Literal["image", "pdf-embedded", "pdf-rendered"]


@dataclass(frozen=True, slots=True, eq=False)
class NormalizedPage:
    """A page deskewed and resampled to ``dpi``.

    ``gray`` has its lighting flattened (for barcodes and OCR); ``colour`` is a small RGB copy at
    ``colour_dpi`` with the lighting left alone (flattening would bleach the colour markers), or
    None for a grayscale scan.
    """

    gray: Pixels
    dpi: float
    colour: Pixels | None
    colour_dpi: float
    skew_degrees: float
    source_dpi: float
    source_dpi_assumed: bool


@dataclass(frozen=True, slots=True)
class Barcode:
    text: str
    symbology: Symbology
    box: Box
    reader: Reader


@dataclass(frozen=True, slots=True)
class ColourMatch:
    """The page's colour code. ``category`` is a reference colour's name or ``"unknown"``.

    ``reason`` says why it is unknown ("grayscale", "no marker", "unmatched colour",
    "ambiguous colour") and is None for a match; ``box`` is in the normalized page's pixels.
    """

    category: str
    reason: str | None
    lab: tuple[float, float, float] | None = None
    hue_distance: float | None = None
    box: Box | None = None
    area_in2: float = 0.0
    shape: Shape | None = None

    @property
    def known(self) -> bool:
        return self.reason is None


# What a second reading of a cell may read (``CellReader``): a number or range, or a unit.
NUMBER_CHARACTERS = "0123456789.,-–—<> "  # en and em dashes: Tesseract reads ranges with them
UNIT_CHARACTERS = "0123456789/^*%.abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZµ"


class CellReader(Protocol):
    """A second, independent reading of one region of a page as a single line of
    ``characters`` only (None once the page cannot be read again)."""

    def __call__(self, box: Box, characters: str = NUMBER_CHARACTERS) -> OcrResult | None: ...


@dataclass(frozen=True, slots=True)
class OcrWord:
    text: str
    confidence: float  # Tesseract's 0-100
    box: Box
    line: int  # index into OcrResult.lines


@dataclass(frozen=True, slots=True)
class OcrLine:
    text: str
    confidence: float
    box: Box


@dataclass(frozen=True, slots=True)
class OcrResult:
    """Tesseract's words and lines, in its reading order.

    ``reread`` reads one region of the same page again, independently (``Ocr.read`` sets it;
    see ``second_reading.py``); None when the page cannot be read again.
    """

    words: tuple[OcrWord, ...]
    lines: tuple[OcrLine, ...]
    reread: CellReader | None = field(default=None, compare=False, repr=False)

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)
