"""The calibration card: one patch per label colour in use, printed with the same inks as the
labels. ``medrec calibrate SCAN`` reads a scan of it to set the colour stage's reference
colours for that printer, paper and scanner.

Its codes (Code128 and QR) carry ``MEDCAL:<colour>,<colour>,...``, the patch colours from top
to bottom, so the reader knows which patch is which without trusting their hues.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ingestion.labels.codes import code128_module, draw_code128, draw_matrix, matrix_side
from ingestion.labels.colours import CategoryStyle, category_styles, style_of
from ingestion.labels.layout import fill_rgb, snap
from ingestion.labels.pdf import A4, DOT, INCH, draw_text, new_canvas
from ingestion.scans.payloads import calibration_payload

_MARGIN = snap(0.75 * INCH)
PATCH_WIDTH = snap(1.6 * INCH)
PATCH_HEIGHT = snap(0.8 * INCH)  # 1.28 in²: far above the colour stage's marker minimum
_PATCH_STEP = snap(1.1 * INCH)
_FIRST_PATCH_TOP = snap(3.4 * INCH)  # from the top of the page, below the codes


@dataclass(frozen=True, slots=True)
class Patch:
    """One colour patch; the box is in points from the page's top left corner."""

    colour: str
    categories: tuple[str, ...]  # the category displays printed beside it
    ink: tuple[int, int, int]
    left: float
    top: float
    width: float = PATCH_WIDTH
    height: float = PATCH_HEIGHT


def calibration_patches(styles: Mapping[str, CategoryStyle] | None = None) -> list[Patch]:
    """The patches, top to bottom: each colour once, with every category printed in it."""
    styles = styles if styles is not None else category_styles()
    by_colour: dict[str, list[CategoryStyle]] = {}
    for code in styles:
        style = style_of(code, styles)  # refuses a colour without ink
        if style.colour is not None:
            by_colour.setdefault(style.colour, []).append(style)
    return [
        Patch(
            colour=colour,
            categories=tuple(style.display for style in members),
            ink=members[0].ink or (0, 0, 0),
            left=_MARGIN,
            top=_FIRST_PATCH_TOP + number * _PATCH_STEP,
        )
        for number, (colour, members) in enumerate(by_colour.items())
    ]


def calibration_card_pdf(
    styles: Mapping[str, CategoryStyle] | None = None, *, page_size: tuple[float, float] = A4
) -> bytes:
    styles = styles if styles is not None else category_styles()
    patches = calibration_patches(styles)
    payload = calibration_payload([patch.colour for patch in patches])
    width, height = page_size
    buffer = io.BytesIO()
    canvas = new_canvas(buffer, page_size, "medrec colour calibration card")
    _draw(canvas, patches, styles, payload, width, height)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _draw(
    canvas: Any,
    patches: list[Patch],
    styles: Mapping[str, CategoryStyle],
    payload: str,
    width: float,
    height: float,
) -> None:
    text_width = width - 2 * _MARGIN
    y = height - _MARGIN - 0.2 * INCH
    draw_text(canvas, _MARGIN, y, "COLOUR CALIBRATION CARD", size=22, bold=True, width=text_width)
    y -= 0.3 * INCH
    hint = "Print with the label printer and paper in use; scan with the batch scanner."
    draw_text(canvas, _MARGIN, y, hint, size=10, width=text_width)
    # Codes to the right of the patch column's top: Code128 then QR, both MEDCAL.
    bars_height = snap(0.5 * INCH)
    module = code128_module(payload, text_width + _MARGIN)
    bars_y = snap(height - _FIRST_PATCH_TOP + 0.4 * INCH)
    draw_code128(canvas, payload, snap(_MARGIN / 2), bars_y, bars_height, module)
    qr_module = 8 * DOT
    qr_side = matrix_side(payload, "qr") * qr_module
    draw_matrix(
        canvas, payload, "qr", snap(width - _MARGIN - qr_side), bars_y + bars_height + 10, qr_module
    )
    text_x = _MARGIN + PATCH_WIDTH + 0.3 * INCH
    for patch in patches:
        bottom = height - patch.top - patch.height
        fill_rgb(canvas, patch.ink)
        canvas.rect(patch.left, bottom, patch.width, patch.height, stroke=0, fill=1)
        canvas.setFillColorRGB(0, 0, 0)
        colour_name = next(
            (
                s.colour_display
                for s in styles.values()
                if s.colour == patch.colour and s.colour_display
            ),
            patch.colour,
        )
        label_width = width - _MARGIN - text_x
        draw_text(
            canvas,
            text_x,
            bottom + patch.height - 18,
            colour_name,
            size=14,
            bold=True,
            width=label_width,
        )
        draw_text(
            canvas,
            text_x,
            bottom + patch.height - 36,
            ", ".join(patch.categories),
            size=11,
            width=label_width,
        )
