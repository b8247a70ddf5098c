"""Drawing helpers shared by the label, the cover sheet and the calibration card."""

from __future__ import annotations

from typing import Any

from ingestion.labels.colours import CategoryStyle
from ingestion.labels.pdf import DOT, draw_text


def snap(points: float) -> float:
    """Round to whole 300-dpi dots: module edges on the dot grid rasterize without grey seams."""
    return round(points / DOT) * DOT


def fill_rgb(canvas: Any, rgb: tuple[int, int, int]) -> None:
    canvas.setFillColorRGB(*(channel / 255 for channel in rgb))


def draw_band(canvas: Any, style: CategoryStyle, x: float, y: float, w: float, h: float) -> None:
    """The colour band; a category without a colour code gets an outlined box saying so."""
    if style.ink is not None:
        fill_rgb(canvas, style.ink)
        canvas.rect(x, y, w, h, stroke=0, fill=1)
    else:
        canvas.setLineWidth(0.5)
        canvas.rect(x + 2, y + 2, w - 4, h - 4, stroke=1, fill=0)
        canvas.setFillColorRGB(0, 0, 0)
        draw_text(canvas, x + 8, y + h / 2 - 3, "no colour code", size=8, width=w - 16)
    canvas.setFillColorRGB(0, 0, 0)
