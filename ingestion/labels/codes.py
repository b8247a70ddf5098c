"""Barcodes drawn as vector rectangles: zxing-cpp encodes (the same library reads them back in
``ingestion.scans.barcodes``), reportlab draws each module as filled rectangles."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import zxingcpp

from ingestion.labels.errors import LabelError
from ingestion.labels.pdf import DOT

Matrix = npt.NDArray[np.bool_]
TwoD = Literal["datamatrix", "qr"]

_FORMATS = {
    "code128": zxingcpp.BarcodeFormat.Code128,
    "qr": zxingcpp.BarcodeFormat.QRCode,
    "datamatrix": zxingcpp.BarcodeFormat.DataMatrix,
}
CODE128_QUIET = 10  # modules of white each side (ISO/IEC 15417)


def modules(content: str, symbology: Literal["code128", "datamatrix", "qr"]) -> Matrix:
    """Dark modules (True) without quiet zones; for Code128 one row of bars."""
    # A rectangular DataMatrix (zxing's choice for long texts) would not fit a label.
    options = {"forceSquare": True} if symbology == "datamatrix" else {}
    code = zxingcpp.create_barcode(content, _FORMATS[symbology], **options)
    image = np.asarray(zxingcpp.write_barcode_to_image(code, scale=1, add_quiet_zones=False))
    dark: Matrix = image < 128
    return dark[:1] if symbology == "code128" else dark


def code128_module(content: str, width: float, *, dots: int = 4, min_dots: int = 3) -> float:
    """The widest module (whole dots, ≤ ``dots``) at which the code and its quiet zones fit."""
    count = modules(content, "code128").shape[1] + 2 * CODE128_QUIET
    for size in range(dots, min_dots - 1, -1):
        if count * size * DOT <= width:
            return size * DOT
    raise LabelError("a barcode does not fit on the label: the text is too long")


def draw_code128(
    canvas: Any, content: str, x: float, y: float, height: float, module: float
) -> float:
    """Bars from (x, y) up, after a quiet zone; returns the width used, quiet zones included."""
    row = modules(content, "code128")[0]
    left = x + CODE128_QUIET * module
    for start, length in _runs(row):
        canvas.rect(left + start * module, y, length * module, height, stroke=0, fill=1)
    return (len(row) + 2 * CODE128_QUIET) * module


def draw_matrix(
    canvas: Any, content: str, symbology: TwoD, x: float, y: float, module: float
) -> float:
    """A 2D code with its lower left corner at (x, y); returns its side (quiet zone excluded)."""
    matrix = modules(content, symbology)
    rows = matrix.shape[0]
    for r, row in enumerate(matrix):
        top = y + (rows - 1 - r) * module  # PDF y grows upwards
        for start, length in _runs(row):
            canvas.rect(x + start * module, top, length * module, module, stroke=0, fill=1)
    return float(max(matrix.shape) * module)


def matrix_side(content: str, symbology: TwoD) -> int:
    return int(max(modules(content, symbology).shape))


def _runs(row: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """(start, length) of each run of dark modules: one rectangle per run, not per module."""
    padded = np.concatenate(([False], row, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b - a)) for a, b in zip(edges[::2], edges[1::2], strict=True)]
