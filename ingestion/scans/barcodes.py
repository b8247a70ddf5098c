"""Barcodes on a normalized page: Code128 (the MRN), QR and DataMatrix (MRN, category, document).

zxing-cpp reads all three; with the formats restricted it takes ≈ 60-80 ms a page. A blurred or
noisy code that it misses at full size it usually reads at half size (area averaging removes
the noise), so a page still lacking a 1D or a 2D code is read again at half size. pyzbar
(libzbar) is a last try for Code128 only: it cannot read DataMatrix and missed QR codes on
degraded pages.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import zxingcpp

from ingestion.scans.page import Barcode, Box, Pixels, Reader, Symbology, resized

log = logging.getLogger(__name__)

_FORMATS: dict[zxingcpp.BarcodeFormat, Symbology] = {
    zxingcpp.BarcodeFormat.Code128: "code128",
    zxingcpp.BarcodeFormat.QRCode: "qr",
    zxingcpp.BarcodeFormat.DataMatrix: "datamatrix",
}
_READ_FORMATS = zxingcpp.BarcodeFormats(list(_FORMATS))
TWO_D: frozenset[Symbology] = frozenset({"qr", "datamatrix"})


def read_barcodes(
    gray: Pixels, *, half_size_retry: bool = True, zbar_fallback: bool = True
) -> list[Barcode]:
    """Every Code128, QR and DataMatrix code on the page (each text once), in reading order."""
    found = _zxing(gray, 1.0)
    if half_size_retry and _incomplete(found):
        found = _merge(found, _zxing(resized(gray, 0.5), 2.0))
    if zbar_fallback and not any(code.symbology == "code128" for code in found):
        found = _merge(found, _zbar_code128(gray))
    return sorted(found, key=lambda code: (code.box.top, code.box.left))


def _incomplete(found: Sequence[Barcode]) -> bool:
    """A medrec page carries a 1D and a 2D code: lacking either is worth a second look."""
    symbologies = {code.symbology for code in found}
    return "code128" not in symbologies or not symbologies & TWO_D


def _zxing(gray: Pixels, scale: float) -> list[Barcode]:
    results = zxingcpp.read_barcodes(gray, formats=_READ_FORMATS, try_invert=False)
    reader: Reader = "zxing" if scale == 1.0 else "zxing-half"
    codes = []
    for result in results:
        if not result.valid or result.format not in _FORMATS:
            continue
        corners = (
            result.position.top_left,
            result.position.top_right,
            result.position.bottom_right,
            result.position.bottom_left,
        )
        xs = [point.x for point in corners]
        ys = [point.y for point in corners]
        box = Box(min(xs), min(ys), max(xs) + 1, max(ys) + 1).scaled(scale)
        codes.append(Barcode(result.text, _FORMATS[result.format], box, reader))
    return codes


def _zbar_code128(gray: Pixels) -> list[Barcode]:
    try:
        from pyzbar import pyzbar
    except (ImportError, OSError):  # libzbar0 missing: the fallback is optional
        log.warning("pyzbar unavailable (install libzbar0): no fallback for Code128")
        return []
    codes = []
    for result in pyzbar.decode(gray, symbols=[pyzbar.ZBarSymbol.CODE128]):
        left, top, width, height = result.rect
        text = result.data.decode("utf-8", errors="replace")
        codes.append(Barcode(text, "code128", Box(left, top, left + width, top + height), "zbar"))
    return codes


def _merge(first: Iterable[Barcode], second: Iterable[Barcode]) -> list[Barcode]:
    """Both lists, each (symbology, text) once; the first list's reading wins."""
    merged: dict[tuple[str, str], Barcode] = {}
    for code in (*first, *second):
        merged.setdefault((code.symbology, code.text), code)
    return list(merged.values())
