"""Drawing on a PDF page with reportlab: the canvas, units, fonts and printable text."""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import reportlab
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from ingestion.labels.errors import LabelError

INCH = 72.0  # points
MM = INCH / 25.4
DOT = INCH / 300  # one dot at 300 dpi: barcode modules are whole dots, so they stay sharp

A4 = (210 * MM, 297 * MM)
LETTER = (8.5 * INCH, 11 * INCH)

# DejaVu (Debian: fonts-dejavu-core) covers Latin, Greek and Cyrillic names; reportlab's own
# Bitstream Vera, which DejaVu grew from, covers Western European ones and is always there.
_FONT_PATHS = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/TTF/DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
    (str(Path(reportlab.__file__).parent / "fonts" / "Vera.ttf"), "VeraBd.ttf"),
)


@dataclass(frozen=True, slots=True)
class Fonts:
    regular: str
    bold: str
    glyphs: frozenset[int]  # code points both fonts can print


@cache
def fonts() -> Fonts:
    for regular, bold in _FONT_PATHS:
        regular_path = Path(regular)
        bold_path = regular_path.with_name(bold)
        if regular_path.is_file() and bold_path.is_file():
            stem = regular_path.stem
            pdfmetrics.registerFont(TTFont(f"medrec-{stem}", str(regular_path)))
            pdfmetrics.registerFont(TTFont(f"medrec-{stem}-Bold", str(bold_path)))
            glyphs = _glyphs(f"medrec-{stem}") & _glyphs(f"medrec-{stem}-Bold")
            return Fonts(f"medrec-{stem}", f"medrec-{stem}-Bold", glyphs)
    raise LabelError("no label font found")  # unreachable: Vera ships with reportlab


def _glyphs(name: str) -> frozenset[int]:
    font: Any = pdfmetrics.getFont(name)
    return frozenset(font.face.charToGlyph)


def check_printable(text: str, what: str) -> str:
    """Refuse text the font would print as boxes: a label must not show a name wrongly."""
    missing = {ch for ch in text if ord(ch) not in fonts().glyphs and not ch.isspace()}
    if missing:
        raise LabelError(f"the {what} has characters the label font cannot print")
    return text


def new_canvas(buffer: io.BytesIO, size: tuple[float, float], title: str) -> Any:
    """A canvas whose output depends only on what is drawn (no dates, no random ids)."""
    canvas = Canvas(buffer, pagesize=size, invariant=1, pageCompression=1)
    canvas.setTitle(title)
    canvas.setCreator("medrec")
    return canvas


def fit_text(canvas: Any, text: str, font: str, size: float, width: float) -> float:
    """The font size, at most ``size``, at which ``text`` fits in ``width``."""
    natural = float(canvas.stringWidth(text, font, size))
    return size if natural <= width else max(size * width / natural, 4.0)


def draw_text(
    canvas: Any, x: float, y: float, text: str, *, size: float, bold: bool = False, width: float
) -> None:
    """One line at baseline ``y``, shrunk to fit ``width``."""
    font = fonts().bold if bold else fonts().regular
    canvas.setFont(font, fit_text(canvas, text, font, size, width))
    canvas.drawString(x, y, text)
