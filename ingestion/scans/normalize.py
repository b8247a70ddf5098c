"""Page images → upright pages at 300 dpi with even lighting.

Deskewing and bringing low-resolution scans up to 300 dpi both help Tesseract; we do them in
one resampling pass. Lighting is flattened by dividing by the paper's brightness (a background
estimate with the ink taken out), which keeps grey levels for Tesseract. Adaptive thresholding
is deliberately absent: it tripled Tesseract's character error rate.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ingestion.scans.page import NormalizedPage, PageImage, Pixels, as_pixels, resized

TARGET_DPI = 300.0
COLOUR_DPI = 50.0  # the colour stage needs blobs, not detail
MAX_SKEW = 5.0  # degrees searched either way
_SKEW_DPI = 100.0
_SKEW_POINTS = 60_000
_PAGE_ASPECTS = (1.2, 1.5)  # A4 is 1.41, Letter 1.29: a shape like that is probably a page
_ASSUMED_PAGE_WIDTH_IN = 8.4  # between A4 (8.27) and Letter (8.5)


def normalize(
    page: PageImage,
    *,
    dpi: float = TARGET_DPI,
    colour_dpi: float = COLOUR_DPI,
    deskew: bool = True,
) -> NormalizedPage:
    source_dpi, assumed = source_resolution(page)
    pixels = page.pixels
    colourful = pixels.ndim == 3 and not looks_gray(pixels)
    gray = pixels if pixels.ndim == 2 else as_pixels(cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY))
    skew = estimate_skew(gray, source_dpi) if deskew else 0.0
    upright = _resample(gray, dpi / source_dpi, skew)
    colour = _resample(pixels, colour_dpi / source_dpi, skew) if colourful else None
    return NormalizedPage(
        gray=flatten(upright, dpi),
        dpi=dpi,
        colour=colour,
        colour_dpi=colour_dpi,
        skew_degrees=round(skew, 3),
        source_dpi=source_dpi,
        source_dpi_assumed=assumed,
    )


def source_resolution(page: PageImage) -> tuple[float, bool]:
    """The scan's dpi, and whether it was assumed (the file did not say) rather than stated."""
    if page.dpi is not None:
        return page.dpi, False
    height, width = page.pixels.shape[:2]
    short, long = sorted((width, height))
    if _PAGE_ASPECTS[0] <= long / max(short, 1) <= _PAGE_ASPECTS[1]:
        return short / _ASSUMED_PAGE_WIDTH_IN, True
    return TARGET_DPI, True  # a crop or a photo: leave its size alone


def looks_gray(rgb: Pixels) -> bool:
    """True for an RGB image whose channels agree (a grayscale scan saved as colour).

    Strict: a page whose only colour is a small logo still counts as colour.
    """
    sample = rgb[::8, ::8].astype(np.int16)
    spread = sample.max(axis=2) - sample.min(axis=2)
    return bool(np.count_nonzero(spread > 12) <= spread.size // 5000)


def estimate_skew(gray: Pixels, dpi: float) -> float:
    """The page's rotation in degrees, counter-clockwise as OpenCV counts (0 if unsure).

    Projection profiles: rotating the ink by the right angle lines up the text rows, which
    makes the row histogram peakiest. Computed on the ink pixels' coordinates at 100 dpi,
    coarse then fine, so no image is rotated.
    """
    factor = min(1.0, _SKEW_DPI / dpi)
    small = resized(gray, factor)
    _, ink = cv2.threshold(small, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    ys, xs = np.nonzero(ink)
    if len(ys) < 500:
        return 0.0
    step = max(1, len(ys) // _SKEW_POINTS)
    ys = ys[::step].astype(np.float64)
    xs = xs[::step].astype(np.float64) - small.shape[1] / 2.0
    offset = small.shape[1] + small.shape[0]

    def peakiness(degrees: float) -> float:
        theta = math.radians(degrees)
        rows = ys * math.cos(theta) + xs * math.sin(theta) + offset
        # Each point split between its two nearest rows: rounding would favour some angles.
        below = np.floor(rows)
        upper = rows - below
        index = below.astype(np.int64)
        size = int(index.max()) + 2
        counts = np.bincount(index, weights=1.0 - upper, minlength=size)
        counts += np.bincount(index + 1, weights=upper, minlength=size)
        return float(np.dot(counts, counts))

    coarse = max(np.arange(-MAX_SKEW, MAX_SKEW + 1e-9, 0.25), key=peakiness)
    fine = max(np.arange(coarse - 0.25, coarse + 0.25 + 1e-9, 0.025), key=peakiness)
    return float(fine) if abs(fine) >= 0.05 else 0.0


def _resample(pixels: Pixels, scale: float, skew: float) -> Pixels:
    """Scale, and rotate by ``-skew`` on a canvas grown to keep the corners, in one pass."""
    if scale < 0.97:  # shrink first with area averaging: warpAffine would alias
        pixels = resized(pixels, scale)
        scale = 1.0
    if abs(skew) < 0.05:
        if abs(scale - 1.0) < 0.03:
            return pixels
        return resized(pixels, scale, cv2.INTER_CUBIC)
    height, width = pixels.shape[:2]
    theta = math.radians(skew)
    cos, sin = abs(math.cos(theta)), abs(math.sin(theta))
    out_w = round((width * cos + height * sin) * scale)
    out_h = round((width * sin + height * cos) * scale)
    matrix = cv2.getRotationMatrix2D((width / 2.0, height / 2.0), -skew, scale)
    matrix[0, 2] += out_w / 2.0 - width / 2.0
    matrix[1, 2] += out_h / 2.0 - height / 2.0
    interpolation = cv2.INTER_CUBIC if scale > 1.03 else cv2.INTER_LINEAR
    rotated = cv2.warpAffine(
        pixels,
        matrix,
        (out_w, out_h),
        flags=interpolation,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=_paper_value(pixels),
    )
    return as_pixels(rotated)


def _paper_value(pixels: Pixels) -> tuple[float, ...]:
    sample = pixels[::8, ::8]
    if sample.ndim == 2:
        return (float(np.percentile(sample, 90)),)
    return tuple(float(np.percentile(sample[:, :, c], 90)) for c in range(sample.shape[2]))


def flatten(gray: Pixels, dpi: float) -> Pixels:
    """Divide out the paper's brightness so that paper is white everywhere and ink keeps its grey.

    The background is estimated at a quarter of the resolution: a grey dilation wider than any
    stroke (0.12 in) removes the ink, a blur smooths it, and it is scaled back up.
    """
    height, width = gray.shape
    small = cv2.resize(
        gray, (max(1, width // 4), max(1, height // 4)), interpolation=cv2.INTER_AREA
    )
    size = max(3, round(dpi / 4 * 0.12)) | 1
    background = cv2.dilate(small, cv2.getStructuringElement(cv2.MORPH_RECT, (size, size)))
    background = cv2.GaussianBlur(background, (0, 0), size)
    background = cv2.resize(background, (width, height), interpolation=cv2.INTER_LINEAR)
    return as_pixels(cv2.divide(gray, np.maximum(background, 1), scale=255))
