"""A document label: 4 by 2 in (101.6 by 50.8 mm), the common size of direct-thermal labels.

Layout: the category's colour band along the top (1.4 in², well above the colour stage's
0.25 in² minimum marker); name, date of birth, MRN, category and document id on the left; the
Code128 of the MRN at the bottom left; the DataMatrix ``MEDDOC`` code at the right.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from ingestion.labels.codes import TwoD, code128_module, draw_code128, draw_matrix, matrix_side
from ingestion.labels.colours import CategoryStyle, category_styles, style_of
from ingestion.labels.errors import LabelError
from ingestion.labels.layout import draw_band, snap
from ingestion.labels.patient import LabelPatient
from ingestion.labels.pdf import DOT, INCH, check_printable, draw_text, new_canvas
from ingestion.scans.payloads import PayloadError, document_payload

LABEL_SIZE = (4 * INCH, 2 * INCH)
_MARGIN = snap(0.1 * INCH)
_BAND = snap(0.35 * INCH)


def label_pdf(
    patient: LabelPatient,
    category: str,
    document_id: str | None,
    *,
    styles: Mapping[str, CategoryStyle] | None = None,
    symbology: TwoD = "datamatrix",
    copies: int = 1,
) -> bytes:
    """A one-label-per-page PDF (``copies`` identical pages). Without a ``document_id`` the 2D
    code carries an empty one (``MEDDOC:<MRN>:<category>:``): ingestion assigns it."""
    style = style_of(category, styles if styles is not None else category_styles())
    try:
        payload = document_payload(patient.mrn, category, document_id)
    except PayloadError as exc:
        raise LabelError(str(exc)) from exc
    check_printable(patient.name, "patient's name")
    check_printable(style.display, "category's name")
    width, height = LABEL_SIZE
    buffer = io.BytesIO()
    canvas = new_canvas(buffer, LABEL_SIZE, "medrec label")
    for _ in range(max(copies, 1)):
        _draw(canvas, patient, style, document_id, payload, symbology, width, height)
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _draw(
    canvas: Any,
    patient: LabelPatient,
    style: CategoryStyle,
    document_id: str | None,
    payload: str,
    symbology: TwoD,
    width: float,
    height: float,
) -> None:
    draw_band(canvas, style, 0, height - _BAND, width, _BAND)
    # 2D code at the right, vertically centred below the band; modules of 6 dots (0.5 mm) shrink
    # to 4 for long payloads.
    room = height - _BAND - 2 * _MARGIN
    side = matrix_side(payload, symbology)
    dots = max(4, min(6, int(room / (side * DOT))))
    module = dots * DOT
    size = side * module
    code_x = snap(width - _MARGIN - module - size)  # one module of quiet zone inside the margin
    code_y = snap(_MARGIN + (room - size) / 2)
    draw_matrix(canvas, payload, symbology, code_x, code_y, module)
    text_width = code_x - 2 * _MARGIN
    # Code128 of the MRN at the bottom left, its quiet zones inside the text column.
    bar_module = code128_module(patient.mrn, text_width + _MARGIN)
    draw_code128(canvas, patient.mrn, snap(_MARGIN / 2), _MARGIN, snap(0.42 * INCH), bar_module)
    x = _MARGIN
    top = height - _BAND - 0.2 * INCH
    draw_text(canvas, x, top, patient.name, size=11, bold=True, width=text_width)
    draw_text(canvas, x, top - 13, f"DOB {patient.birth_date_text}", size=8.5, width=text_width)
    draw_text(canvas, x, top - 24, f"MRN {patient.mrn}", size=8.5, width=text_width)
    draw_text(canvas, x, top - 35, style.display, size=8.5, bold=True, width=text_width)
    if document_id:
        draw_text(canvas, x, top - 46, f"Doc {document_id}", size=7.5, width=text_width)


__all__ = ["LABEL_SIZE", "label_pdf"]
