"""Files → page images: PNG, JPEG, TIFF (multi-page too) with Pillow, PDF with PDFium.

The format is judged by the file's first bytes, never by its name. A scanner's PDF page is one
image covering the page: we take that image out as it is (full resolution, ≈ 20 ms) instead of
rendering the page (65-117 ms, and rendering below the scan's resolution destroyed separator
barcodes). Any other page is rendered at 300 dpi. Every page is checked against a pixel cap
before it is decoded, so a decompression bomb costs nothing.

PDFium is not thread-safe: use one ``ScanFile`` at a time per process.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Literal

import cv2
import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image, ImageOps, UnidentifiedImageError

from ingestion.scans.errors import (
    CorruptFile,
    EmptyDocument,
    EncryptedPdf,
    ScanError,
    TooManyPixels,
    TruncatedFile,
    UnsupportedFormat,
)
from ingestion.scans.page import PageImage, Pixels, as_pixels

Kind = Literal["png", "jpeg", "tiff", "pdf"]

DEFAULT_MAX_PIXELS = 80_000_000
"""Per page: A3 at 600 dpi is 70 million pixels; far more is a bomb, not a scan."""
RENDER_DPI = 300
EMBEDDED_COVERAGE = 0.9  # an image this much of the page's width and height is "the scan"

_PILLOW_FORMATS: dict[Kind, str] = {"png": "PNG", "jpeg": "JPEG", "tiff": "TIFF"}
# Pillow raises all of these on broken input, depending on the format and where it breaks.
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    TypeError,
    KeyError,
    EOFError,
    IndexError,
    struct.error,
    zlib.error,
)
# A stated resolution is believed only when it gives a page of plausible size.
_PLAUSIBLE_DPI = (50.0, 1300.0)
_PLAUSIBLE_WIDTH_IN = (1.0, 20.0)
_EXIF_ORIENTATION = 0x0112


def sniff(head: bytes) -> Kind:
    """The format of a file from its first bytes."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    # The PDF header may follow up to 1 KiB of junk, as readers allow.
    if b"%PDF-" in head[:1024]:
        return "pdf"
    raise UnsupportedFormat("not a PNG, JPEG, TIFF or PDF file")


class ScanFile:
    """An opened scan: ``page_count`` pages, each decoded on demand by ``page(i)``.

    A page that cannot be decoded raises a ``ScanError`` carrying its index, so the other
    pages can still be read.
    """

    kind: Kind
    page_count: int

    def page(self, index: int) -> PageImage:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> ScanFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[PageImage]:
        for index in range(self.page_count):
            yield self.page(index)


def open_scan(source: bytes | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ScanFile:
    """Open a scan from its bytes or its path; raises a ``ScanError`` for a bad file."""
    data = source.read_bytes() if isinstance(source, Path) else bytes(source)
    if not data:
        raise EmptyDocument("the file is empty")
    kind = sniff(data[:1024])
    if kind == "pdf":
        return _PdfFile(data, max_pixels)
    return _ImageFile(data, kind, max_pixels)


def rasterize(source: bytes | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Iterator[PageImage]:
    """Every page of a scan, in order (stops at the first page that cannot be decoded)."""
    with open_scan(source, max_pixels=max_pixels) as scan:
        yield from scan


def _check_pixels(width: int, height: int, max_pixels: int, page: int | None) -> None:
    if width <= 0 or height <= 0:
        raise CorruptFile(f"page size {width}×{height}", page=page)
    if width * height > max_pixels:
        raise TooManyPixels(
            f"{width}×{height} pixels is more than the cap of {max_pixels:,}", page=page
        )


# -- images --------------------------------------------------------------------------------------


class _ImageFile(ScanFile):
    def __init__(self, data: bytes, kind: Kind, max_pixels: int) -> None:
        self.kind = kind
        self._max_pixels = max_pixels
        try:
            # Our own cap is checked per page before decoding; Pillow's global one would only
            # warn below twice its limit.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                warnings.simplefilter("ignore", UserWarning)  # e.g. "Corrupt EXIF data"
                self._image = Image.open(io.BytesIO(data), formats=[_PILLOW_FORMATS[kind]])
                self.page_count = int(getattr(self._image, "n_frames", 1))
        except Image.DecompressionBombError as exc:
            raise TooManyPixels(_bomb_message()) from exc
        except _DECODE_ERRORS as exc:
            raise _decode_error(kind, exc, None) from exc
        if self.page_count < 1:
            raise EmptyDocument("the image file has no pages")

    def page(self, index: int) -> PageImage:
        if not 0 <= index < self.page_count:
            raise IndexError(index)
        image = self._image
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                warnings.simplefilter("ignore", UserWarning)
                image.seek(index)
                _check_pixels(image.width, image.height, self._max_pixels, index)
                image.load()
                pixels = _pixels_from_pillow(_upright(image))
        except ScanError:
            raise
        except Image.DecompressionBombError as exc:
            raise TooManyPixels(_bomb_message(), page=index) from exc
        except _DECODE_ERRORS as exc:
            raise _decode_error(self.kind, exc, index) from exc
        return PageImage(pixels, _stated_dpi(image, pixels.shape[1]), index, "image")

    def close(self) -> None:
        self._image.close()


def _bomb_message() -> str:
    # Pillow refuses before our own check can run only far above any cap we would set.
    limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
    return f"the image claims more than {limit:,} pixels"


def _decode_error(kind: Kind, exc: BaseException, page: int | None) -> CorruptFile:
    if isinstance(exc, UnidentifiedImageError):  # its message holds a repr of our buffer
        return CorruptFile(f"not a readable {kind.upper()} file", page=page)
    reason = str(exc) or type(exc).__name__
    if "truncated" in reason.lower() or isinstance(exc, EOFError):
        return TruncatedFile(f"the {kind.upper()} file ends early", page=page)
    return CorruptFile(f"cannot decode the {kind.upper()} file: {reason}", page=page)


def _stated_dpi(image: Image.Image, width_px: int) -> float | None:
    dpi = image.info.get("dpi")
    if not isinstance(dpi, tuple) or not dpi:
        return None
    try:
        value = float(dpi[0])
    except (TypeError, ValueError):
        return None
    if not _PLAUSIBLE_DPI[0] <= value <= _PLAUSIBLE_DPI[1]:
        return None
    if not _PLAUSIBLE_WIDTH_IN[0] <= width_px / value <= _PLAUSIBLE_WIDTH_IN[1]:
        return None  # e.g. a camera's 72 dpi on a 3000-pixel photo
    return round(value, 1)  # PNG stores pixels per metre: 300 dpi reads back as 299.9994


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation (phones and some scanners rotate by tag, not by pixels)."""
    if image.getexif().get(_EXIF_ORIENTATION, 1) == 1:
        return image  # exif_transpose would copy the page for nothing
    return ImageOps.exif_transpose(image)


def _pixels_from_pillow(image: Image.Image) -> Pixels:
    """8-bit grayscale (HxW) or RGB (HxWx3); transparency is laid on white paper."""
    mode = image.mode
    if mode in ("1", "L"):
        return np.asarray(image.convert("L"), dtype=np.uint8)
    if mode.startswith("I") or mode == "F":  # 16/32-bit grayscale
        values = np.asarray(image, dtype=np.float32)
        if values.max(initial=0.0) > 255:
            values = values / 257.0
        return np.clip(values, 0, 255).astype(np.uint8)
    if mode in ("LA", "La", "PA", "RGBA", "RGBa") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(paper, rgba).convert("RGB"), dtype=np.uint8)
    rgb = image if mode == "RGB" else image.convert("RGB")
    return np.asarray(rgb, dtype=np.uint8)


# -- PDFs ----------------------------------------------------------------------------------------

_PROBE_PATH = b"/nonexistent/medrec-pdfium-probe.pdf"


class _PdfFile(ScanFile):
    kind: Kind = "pdf"

    def __init__(self, data: bytes, max_pixels: int) -> None:
        self._max_pixels = max_pixels
        if b"%%EOF" not in data[-1024:]:
            raise TruncatedFile("the PDF file ends early (no %%EOF marker)")
        self._pdf = _load_pdf(data)
        self.page_count = len(self._pdf)
        if self.page_count == 0:
            self._pdf.close()
            raise EmptyDocument("the PDF has no pages")

    def page(self, index: int) -> PageImage:
        if not 0 <= index < self.page_count:
            raise IndexError(index)
        try:
            page = self._pdf[index]
        except pdfium.PdfiumError as exc:
            raise CorruptFile("cannot load the PDF page", page=index) from exc
        try:
            return _embedded_scan(page, index, self._max_pixels) or _render(
                page, index, self._max_pixels
            )
        except pdfium.PdfiumError as exc:
            raise CorruptFile(f"cannot read the PDF page: {exc}", page=index) from exc
        finally:
            page.close()

    def close(self) -> None:
        self._pdf.close()


def _load_pdf(data: bytes) -> pdfium.PdfDocument:
    # PDFium reports why a load failed through a process-wide last-error code that it never
    # resets, and leaves it untouched when it refuses a PDF without (readable) pages. So set it
    # to "file error" first (opening a path that does not exist), a code a load from memory
    # cannot produce: still seeing it afterwards means "refused without a reason".
    pdfium_c.FPDF_LoadDocument(_PROBE_PATH, None)
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        code = exc.err_code
        if code in (pdfium_c.FPDF_ERR_PASSWORD, pdfium_c.FPDF_ERR_SECURITY):
            raise EncryptedPdf("the PDF is encrypted (password-protected)") from exc
        if code == pdfium_c.FPDF_ERR_FILE:
            raise EmptyDocument("the PDF has no readable pages") from exc
        raise CorruptFile("cannot parse the PDF file") from exc


def _embedded_scan(page: pdfium.PdfPage, index: int, max_pixels: int) -> PageImage | None:
    """The page's scan image, taken out undecimated, or None when the page is not just a scan."""
    images: list[pdfium.PdfImage] = []
    # Top level only: a form XObject may transform what it holds, so such a page is rendered.
    for obj in page.get_objects(max_depth=0):
        if obj.type == pdfium_c.FPDF_PAGEOBJ_IMAGE:
            images.append(obj)
        elif obj.type == pdfium_c.FPDF_PAGEOBJ_TEXT:
            # An OCR layer under the scan is invisible; visible text would be lost by extraction.
            mode = pdfium_c.FPDFTextObj_GetTextRenderMode(obj)
            if mode != pdfium_c.FPDF_TEXTRENDERMODE_INVISIBLE:
                return None
        else:
            return None
    if len(images) != 1:
        return None
    image = images[0]
    matrix = image.get_matrix()
    if matrix.b != 0 or matrix.c != 0 or matrix.a <= 0 or matrix.d <= 0:
        return None  # rotated, sheared or mirrored: let PDFium render it
    left, bottom, right, top = image.get_bounds()
    page_left, page_bottom, page_right, page_top = page.get_bbox()
    page_width, page_height = page_right - page_left, page_top - page_bottom
    if page_width <= 0 or page_height <= 0:
        return None
    if (right - left) < EMBEDDED_COVERAGE * page_width:
        return None
    if (top - bottom) < EMBEDDED_COVERAGE * page_height:
        return None
    width, height = image.get_px_size()
    _check_pixels(width, height, max_pixels, index)
    if image.get_metadata().bits_per_pixel == 1:
        return None  # bilevel (fax) images may carry a Decode array or mask: rendering obeys it
    bitmap = image.get_bitmap(render=False)
    pixels = _pixels_from_bitmap(bitmap)
    pixels = _apply_page_rotation(pixels, page.get_rotation())
    dpi = round(width / ((right - left) / 72.0), 2)
    return PageImage(pixels, dpi, index, "pdf-embedded")


def _render(page: pdfium.PdfPage, index: int, max_pixels: int) -> PageImage:
    width_pt, height_pt = page.get_size()
    scale = RENDER_DPI / 72.0
    _check_pixels(round(width_pt * scale), round(height_pt * scale), max_pixels, index)
    # Rendering decodes every image at its own size, however small it is drawn.
    for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE]):
        width, height = obj.get_px_size()
        _check_pixels(width, height, max_pixels, index)
    bitmap = page.render(scale=scale, rev_byteorder=True)
    pixels = _pixels_from_bitmap(bitmap)
    return PageImage(pixels, float(RENDER_DPI), index, "pdf-rendered")


def _pixels_from_bitmap(bitmap: pdfium.PdfBitmap) -> Pixels:
    """A copy (PDFium owns the bitmap's memory) as grayscale or RGB."""
    array = np.asarray(bitmap.to_numpy())
    if array.ndim == 2:
        return array.copy()
    conversions = {
        "BGR": cv2.COLOR_BGR2RGB,
        "BGRA": cv2.COLOR_BGRA2RGB,
        "BGRX": cv2.COLOR_BGRA2RGB,
        "RGBA": cv2.COLOR_RGBA2RGB,
        "RGBX": cv2.COLOR_RGBA2RGB,
    }
    code = conversions.get(bitmap.mode.upper())
    if code is None:  # already RGB
        return np.ascontiguousarray(array[:, :, :3])
    return as_pixels(cv2.cvtColor(np.ascontiguousarray(array), code))


def _apply_page_rotation(pixels: Pixels, degrees_clockwise: int) -> Pixels:
    turns = (degrees_clockwise // 90) % 4
    return pixels if turns == 0 else np.ascontiguousarray(np.rot90(pixels, k=-turns))
