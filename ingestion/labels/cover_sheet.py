"""A cover (separator) sheet: put in front of a document in a batch, it starts a new document
of its patient and category (``ingestion.scans.split``).

Both codes carry ``MEDSEP:<MRN>:<category>``: a Code128 across the page and a QR, so one
damaged code still leaves the other. The category's colour band runs along the top.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from ingestion.labels.codes import code128_module, draw_code128, draw_matrix, matrix_side
from ingestion.labels.colours import CategoryStyle, category_styles, style_of
from ingestion.labels.errors import LabelError
from ingestion.labels.layout import draw_band, snap
from ingestion.labels.patient import LabelPatient
from ingestion.labels.pdf import A4, DOT, INCH, check_printable, draw_text, new_canvas
from ingestion.scans.payloads import PayloadError, separator_payload

_MARGIN = snap(0.75 * INCH)
_BAND = snap(1.0 * INCH)


def cover_sheet_pdf(
    patient: LabelPatient,
    category: str,
    *,
    styles: Mapping[str, CategoryStyle] | None = None,
    page_size: tuple[float, float] = A4,
) -> bytes:
    style = style_of(category, styles if styles is not None else category_styles())
    try:
        payload = separator_payload(patient.mrn, category)
    except PayloadError as exc:
        raise LabelError(str(exc)) from exc
    check_printable(patient.name, "patient's name")
    check_printable(style.display, "category's name")
    buffer = io.BytesIO()
    canvas = new_canvas(buffer, page_size, "medrec cover sheet")
    _draw(canvas, patient, style, payload, *page_size)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _draw(
    canvas: Any,
    patient: LabelPatient,
    style: CategoryStyle,
    payload: str,
    width: float,
    height: float,
) -> None:
    draw_band(canvas, style, 0, height - _BAND, width, _BAND)
    text_width = width - 2 * _MARGIN
    y = height - _BAND - 0.6 * INCH
    draw_text(canvas, _MARGIN, y, "COVER SHEET", size=26, bold=True, width=text_width)
    y -= 0.3 * INCH
    hint = "Put this sheet in front of the document it describes and scan them together."
    draw_text(canvas, _MARGIN, y, hint, size=10, width=text_width)
    y -= 0.65 * INCH
    draw_text(canvas, _MARGIN, y, patient.name, size=20, bold=True, width=text_width)
    y -= 0.35 * INCH
    draw_text(
        canvas, _MARGIN, y, f"Date of birth  {patient.birth_date_text}", size=13, width=text_width
    )
    y -= 0.28 * INCH
    draw_text(canvas, _MARGIN, y, f"MRN  {patient.mrn}", size=13, width=text_width)
    y -= 0.45 * INCH
    draw_text(canvas, _MARGIN, y, style.display, size=18, bold=True, width=text_width)
    if style.colour_display:
        y -= 0.28 * INCH
        draw_text(canvas, _MARGIN, y, f"Colour  {style.colour_display}", size=11, width=text_width)
    # The Code128 spans the text column (quiet zones in the margins), the QR below it.
    module = code128_module(payload, text_width + _MARGIN)
    bars_height = snap(0.8 * INCH)
    y = snap(y - 0.5 * INCH - bars_height)
    draw_code128(canvas, payload, snap(_MARGIN / 2), y, bars_height, module)
    qr_module = 10 * DOT
    qr_size = matrix_side(payload, "qr") * qr_module
    draw_matrix(canvas, payload, "qr", _MARGIN, snap(y - 0.4 * INCH - qr_size), qr_module)
