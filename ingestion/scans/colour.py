"""The page's colour code: which reference colour its marker (band, side band or sticker) is.

Fixed HSV thresholds failed on colour-cast scans (61/90 right, 12 wrong classes). What works:
white-balance on the paper (which also evens out the lighting), take the largest saturated blob
(small logos are below the minimum marker area), and compare its hue in Lab space with the
reference colours. A faded marker is its colour mixed with paper white, which moves its Lab hue
by up to 20° for red and blue, so each reference is compared as the whole line from full
strength to faded. Anything that is not clearly one reference is "unknown", never a guess.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from ingestion.scans.page import Box, ColourMatch, NormalizedPage, Pixels, Shape

Lab = tuple[float, float, float]
Floats = npt.NDArray[np.float32]

UNKNOWN = "unknown"

# The marker inks medrec prints (sRGB); their hues in Lab are 37°, 290°, 144°, 91° and 328°.
MARKER_SRGB: dict[str, tuple[int, int, int]] = {
    "red": (210, 40, 30),
    "blue": (20, 90, 200),
    "green": (20, 150, 60),
    "yellow": (250, 210, 0),
    "purple": (140, 30, 140),
}


def lab_from_srgb(rgb: tuple[float, float, float]) -> Lab:
    """CIE Lab (D65; L 0-100) of an 8-bit sRGB colour."""
    pixel = np.asarray([[rgb]], dtype=np.float32) / 255.0
    L, a, b = cv2.cvtColor(pixel, cv2.COLOR_RGB2Lab)[0, 0]
    return float(L), float(a), float(b)


def srgb_from_lab(lab: Lab) -> tuple[float, float, float]:
    pixel = np.asarray([[lab]], dtype=np.float32)
    r, g, b = np.clip(cv2.cvtColor(pixel, cv2.COLOR_Lab2RGB)[0, 0], 0.0, 1.0) * 255.0
    return float(r), float(g), float(b)


DEFAULT_REFERENCES: dict[str, Lab] = {name: lab_from_srgb(rgb) for name, rgb in MARKER_SRGB.items()}


@dataclass(frozen=True, slots=True)
class _Reference:
    name: str
    hues: npt.NDArray[np.float64]  # degrees, from full strength to faded


class ColourClassifier:
    """Classifies normalized pages against reference colours (name → Lab).

    ``min_chroma``: Lab chroma a marker pixel needs (paper is below 5 after white balance);
    ``min_area_in2``: the smallest marker (a 0.75 in sticker is 0.44 in², logos stay under
    0.15 in²); ``hue_tolerance``: how far (degrees) a marker may be from its reference's fade
    line; ``hue_margin``: how much nearer than any other reference it must be.
    """

    def __init__(
        self,
        references: Mapping[str, Lab] = DEFAULT_REFERENCES,
        *,
        min_chroma: float = 14.0,
        min_area_in2: float = 0.25,
        hue_tolerance: float = 15.0,
        hue_margin: float = 10.0,
        max_fade: float = 0.75,
    ) -> None:
        if not references:
            raise ValueError("at least one reference colour is needed")
        self.min_chroma = min_chroma
        self.min_area_in2 = min_area_in2
        self.hue_tolerance = hue_tolerance
        self.hue_margin = hue_margin
        self._references = tuple(
            _Reference(name, _fade_hues(lab, max_fade)) for name, lab in references.items()
        )

    def classify(self, page: NormalizedPage) -> ColourMatch:
        if page.colour is None:
            return ColourMatch(UNKNOWN, "grayscale")
        return self.classify_pixels(page.colour, page.colour_dpi, page.dpi / page.colour_dpi)

    def classify_pixels(self, rgb: Pixels, dpi: float, box_scale: float = 1.0) -> ColourMatch:
        """Classify an RGB image at ``dpi``; the match's box is scaled by ``box_scale``."""
        if rgb.ndim != 3:
            return ColourMatch(UNKNOWN, "grayscale")
        lab = cv2.cvtColor(white_balance(rgb, dpi), cv2.COLOR_RGB2Lab)
        chroma = np.hypot(lab[:, :, 1], lab[:, :, 2])
        blob = self._largest_blob(chroma >= self.min_chroma, dpi)
        if blob is None:
            return ColourMatch(UNKNOWN, "no marker")
        mask, box, area_in2 = blob
        inner = cv2.erode(mask, np.ones((3, 3), np.uint8))
        pixels = lab[(inner if inner.any() else mask).astype(bool)]
        L, a, b = (float(v) for v in np.median(pixels, axis=0))
        hue = math.degrees(math.atan2(b, a)) % 360.0
        height, width = rgb.shape[:2]
        distances = sorted(
            (float(np.min(_hue_difference(reference.hues, hue))), reference.name)
            for reference in self._references
        )
        nearest, name = distances[0]
        runner_up = distances[1][0] if len(distances) > 1 else math.inf
        reason = None
        if nearest > self.hue_tolerance:
            name, reason = UNKNOWN, "unmatched colour"
        elif runner_up - nearest < self.hue_margin:
            name, reason = UNKNOWN, "ambiguous colour"
        return ColourMatch(
            name,
            reason,
            lab=(round(L, 1), round(a, 1), round(b, 1)),
            hue_distance=round(nearest, 1),
            box=box.scaled(box_scale),
            area_in2=round(area_in2, 3),
            shape=_shape(box, width, height),
        )

    def _largest_blob(
        self, saturated: npt.NDArray[np.bool_], dpi: float
    ) -> tuple[npt.NDArray[np.uint8], Box, float] | None:
        mask = cv2.morphologyEx(
            saturated.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)
        )
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        if count <= 1:
            return None
        areas = stats[1:, cv2.CC_STAT_AREA]
        best = int(np.argmax(areas)) + 1
        area_in2 = float(stats[best, cv2.CC_STAT_AREA]) / (dpi * dpi)
        if area_in2 < self.min_area_in2:
            return None
        x, y, w, h = (int(v) for v in stats[best, :4])
        return (labels == best).astype(np.uint8), Box(x, y, x + w, y + h), area_in2


def classify(
    page: NormalizedPage, references: Mapping[str, Lab] = DEFAULT_REFERENCES
) -> ColourMatch:
    return ColourClassifier(references).classify(page)


def white_balance(rgb: Pixels, dpi: float) -> Floats:
    """RGB in 0-1 with the paper made white everywhere: removes colour casts and uneven light.

    The paper is what is bright and neutral once the global cast is divided out; the light
    falling on each point is the paper's colour near it (a normalized convolution over about an
    inch), so coloured markers do not count as paper and keep their colour.
    """
    image = rgb.astype(np.float32) / 255.0
    luminance = image.mean(axis=2)
    bright = luminance >= np.percentile(luminance, 60)
    paper = np.maximum(np.median(image[bright], axis=0), 1e-3)
    balanced = image / paper
    spread = balanced.max(axis=2) - balanced.min(axis=2)
    is_paper = ((spread < 0.08) & (balanced.mean(axis=2) > 0.5)).astype(np.float32)
    # The light varies slowly: estimate it at an eighth of the size, then scale it back up.
    height, width = luminance.shape
    small = (max(1, width // 8), max(1, height // 8))
    weight = cv2.resize(is_paper, small, interpolation=cv2.INTER_AREA)
    light = cv2.resize(image * is_paper[:, :, None], small, interpolation=cv2.INTER_AREA)
    sigma = max(dpi * 0.75 / 8, 1.0)
    weight = cv2.GaussianBlur(weight, (0, 0), sigma)
    light = cv2.GaussianBlur(light, (0, 0), sigma)
    light = np.where(
        (weight > 0.02)[:, :, None], light / np.maximum(weight, 1e-6)[:, :, None], paper
    ).astype(np.float32)
    light = np.asarray(
        cv2.resize(light, (width, height), interpolation=cv2.INTER_LINEAR), dtype=np.float32
    )
    white: Floats = np.clip(image / np.maximum(light, 1e-3), 0.0, 1.0).astype(np.float32)
    return white


def _fade_hues(lab: Lab, max_fade: float) -> npt.NDArray[np.float64]:
    """Hues of the colour mixed with white, in sRGB and in linear light (ink spread thinner)."""
    rgb = np.asarray(srgb_from_lab(lab)) / 255.0
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    hues = []
    for fade in np.linspace(0.0, max_fade, 16):
        mixed_linear = linear + (1.0 - linear) * fade
        as_srgb = np.where(
            mixed_linear <= 0.0031308,
            mixed_linear * 12.92,
            1.055 * mixed_linear ** (1 / 2.4) - 0.055,
        )
        for mixed in (rgb + (1.0 - rgb) * fade, as_srgb):
            red, green, blue = (float(v) * 255.0 for v in mixed)
            _, a, b = lab_from_srgb((red, green, blue))
            hues.append(math.degrees(math.atan2(b, a)) % 360.0)
    return np.asarray(hues)


def _hue_difference(hues: npt.NDArray[np.float64], hue: float) -> npt.NDArray[np.float64]:
    difference = np.abs(hues - hue) % 360.0
    return np.minimum(difference, 360.0 - difference)


def _shape(box: Box, width: int, height: int) -> Shape:
    if box.width >= 0.6 * width and box.height < 0.25 * height:
        return "band"
    if box.height >= 0.6 * height and box.width < 0.25 * width:
        return "side band"
    return "sticker"
