"""Synthetic scans with ground truth, for tests and ``bench/digitize.py``.

A page is drawn at 300 dpi the way ABC Medical Center's paper looks (patient header, lab table,
a Code128 MRN barcode, a DataMatrix or QR code with MRN + category + document id, the category's
colour marker as top band, side band or sticker, small coloured logos as distractors), then
degraded the way scanners degrade it (rotation, blur, noise, uneven light, colour cast, faded
markers, JPEG down to quality 40, 150 dpi, grayscale) and encoded as a file. Everything is
derived from a seed: the same spec gives the same bytes on the same fonts.

Payloads (defined in ``payloads.py``):
    2D code on a document   ``MEDDOC:<MRN>:<category>:<document id>``
    separator sheet         ``MEDSEP:<MRN>:<category>`` (Code128 and QR)
"""

# ruff: noqa: S311 -- seeded pseudo-random test data, not secrets

from __future__ import annotations

import datetime as dt
import io
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt
import zxingcpp
from PIL import Image, ImageDraw, ImageFont

from ingestion.labels.colours import category_styles
from ingestion.scans.colour import MARKER_SRGB
from ingestion.scans.page import Pixels, Symbology, as_pixels
from ingestion.scans.payloads import document_payload
from ingestion.scans.payloads import separator_payload as separator_payload  # re-exported

DPI = 300
SCAN_TIME = time.gmtime(1_700_000_000)
PAPER = (250, 250, 247)
INK = (25, 25, 30)

# The terminology's record categories and their colour codes (the bundled colour → category
# ConceptMap, as the labels print them): pages file under the categories ingestion knows.
# A category without a colour (referral) is never drawn.
CATEGORY_COLOURS: dict[str, str] = {
    code: style.colour for code, style in category_styles().items() if style.colour is not None
}
COLOURS = tuple(CATEGORY_COLOURS.values())
# Inks that are none of the reference colours: the colour stage must answer "unknown".
FOREIGN_INKS: dict[str, tuple[int, int, int]] = {
    "orange": (240, 130, 20),
    "pink": (240, 110, 170),
    "cyan": (0, 170, 200),
    "brown": (130, 80, 40),
}
NO_MARKER = "none"
Placement = Literal["band", "side band", "sticker"]
PLACEMENTS: tuple[Placement, ...] = ("band", "side band", "sticker")
Layout = Literal["letterhead", "boxed", "compact"]
LAYOUTS: tuple[Layout, ...] = ("letterhead", "boxed", "compact")

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
Rgb = tuple[int, int, int]
FloatImage = npt.NDArray[np.float32]


# -- degradations --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Degradation:
    """What the scanner did to the page. Lengths are in pixels at 300 dpi."""

    name: str = "clean"
    rotation: float = 0.0  # degrees, counter-clockwise
    blur: float = 0.0  # Gaussian sigma
    noise: float = 0.0  # standard deviation, 0-255 scale
    uneven_light: float = 0.0  # darkest corner loses this share of its light
    cast: tuple[float, float, float] = (1.0, 1.0, 1.0)  # per-channel gains
    fade: float = 0.0  # share of white mixed into the colour marker
    jpeg_quality: int | None = 85  # None: lossless PNG
    dpi: int = DPI
    grayscale: bool = False


PRESETS = (
    "clean",
    "rotated",
    "blurred",
    "noisy",
    "uneven light",
    "colour cast",
    "faded",
    "jpeg 40",
    "150 dpi",
    "grayscale",
    "combined",
)


def degradation(name: str, rng: random.Random) -> Degradation:
    """A preset's degradation with its strength drawn from ``rng``."""

    def sign() -> float:
        return rng.choice((-1.0, 1.0))

    def cast() -> tuple[float, float, float]:
        warm = (1.0, rng.uniform(0.86, 0.93), rng.uniform(0.70, 0.80))
        cool = (rng.uniform(0.80, 0.88), rng.uniform(0.92, 0.97), 1.0)
        green = (rng.uniform(0.85, 0.92), 1.0, rng.uniform(0.82, 0.90))
        return rng.choice((warm, cool, green))

    match name:
        case "clean":
            return Degradation(name, jpeg_quality=None)
        case "rotated":
            return Degradation(name, rotation=sign() * rng.uniform(1.0, 3.0))
        case "blurred":
            return Degradation(name, blur=rng.uniform(1.2, 1.8))
        case "noisy":
            return Degradation(name, noise=rng.uniform(10.0, 14.0))
        case "uneven light":
            return Degradation(name, uneven_light=rng.uniform(0.30, 0.45))
        case "colour cast":
            return Degradation(name, cast=cast())
        case "faded":
            return Degradation(name, fade=rng.uniform(0.40, 0.55))
        case "jpeg 40":
            return Degradation(name, jpeg_quality=40)
        case "150 dpi":
            return Degradation(name, dpi=150)
        case "grayscale":
            return Degradation(name, grayscale=True, jpeg_quality=75)
        case "combined":
            return Degradation(
                name,
                rotation=sign() * rng.uniform(0.5, 2.0),
                blur=rng.uniform(0.6, 1.0),
                noise=rng.uniform(5.0, 8.0),
                uneven_light=rng.uniform(0.15, 0.25),
                cast=cast(),
                fade=rng.uniform(0.2, 0.35),
                jpeg_quality=60,
            )
    raise ValueError(f"unknown degradation preset {name!r}")


# -- ground truth --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LabRow:
    test: str
    value: str
    unit: str
    low: str
    high: str
    flag: str  # "H", "L" or ""


@dataclass(frozen=True, slots=True)
class PageTruth:
    kind: Literal["document", "separator"]
    mrn: str
    category: str
    colour: str | None  # None: the page carries no marker
    placement: Placement | None
    grayscale: bool
    barcodes: dict[Symbology, str]
    lines: tuple[str, ...]  # every printed line, top to bottom, left to right
    name: str = ""
    birth_date: dt.date | None = None
    birth_date_text: str = ""
    sex: str = ""
    document_id: str = ""
    lab_rows: tuple[LabRow, ...] = ()

    @property
    def expected_colour(self) -> str:
        """What the colour stage must answer: grayscale hides the marker, foreign inks match
        no reference."""
        if self.grayscale or self.colour not in MARKER_SRGB:
            return "unknown"
        return self.colour

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass(frozen=True, slots=True)
class PageSpec:
    seed: int
    layout: Layout = "letterhead"
    font: int = 0  # index into available_fonts()
    colour: str = "red"  # a MARKER_SRGB or FOREIGN_INKS name, or NO_MARKER
    placement: Placement = "band"
    symbology_2d: Literal["datamatrix", "qr"] = "datamatrix"
    degradation: Degradation = field(default_factory=Degradation)
    mrn: str | None = None  # None: drawn from the seed


@dataclass(frozen=True, slots=True)
class SyntheticPage:
    spec: PageSpec
    truth: PageTruth
    data: bytes  # the encoded file
    media_type: str


# -- fonts ---------------------------------------------------------------------------------------

FONT_DIRS = (
    Path("/usr/share/fonts"),
    Path("/usr/local/share/fonts"),
    Path.home() / ".fonts",
    Path("/Library/Fonts"),
)
# (regular, bold) file names, from Debian's fonts-dejavu-core and fonts-liberation.
FONT_FILES = (
    ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
    ("LiberationSerif-Regular.ttf", "LiberationSerif-Bold.ttf"),
    ("LiberationSans-Regular.ttf", "LiberationSans-Bold.ttf"),
    ("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf"),
)


@dataclass(frozen=True, slots=True)
class FontFamily:
    name: str
    regular: Path | None  # None: Pillow's built-in font
    bold: Path | None

    def load(self, points: float, *, bold: bool = False) -> Font:
        return _load_font(self.bold if bold else self.regular, round(points * DPI / 72))


@cache
def _load_font(path: Path | None, pixels: int) -> Font:
    if path is None:
        return ImageFont.load_default(pixels)
    return ImageFont.truetype(str(path), pixels)


@cache
def available_fonts() -> tuple[FontFamily, ...]:
    """The installed families of ``FONT_FILES``, or Pillow's built-in font when none is."""
    found: dict[str, Path] = {}
    wanted = {name for pair in FONT_FILES for name in pair}
    for directory in FONT_DIRS:
        if directory.is_dir():
            for path in sorted(directory.rglob("*.ttf")):
                if path.name in wanted:
                    found.setdefault(path.name, path)
    families = tuple(
        FontFamily(regular.removesuffix(".ttf"), found[regular], found.get(bold, found[regular]))
        for regular, bold in FONT_FILES
        if regular in found
    )
    return families or (FontFamily("pillow-default", None, None),)


# -- patient and lab content ---------------------------------------------------------------------

GIVEN = (
    "Anna", "Marta", "Jonas", "Pieter", "Sofia", "Lucas", "Eva", "Noah",
    "Mila", "Daan", "Fatima", "Yusuf", "Lena", "Tomasz", "Chloe", "Samuel",
)  # fmt: skip
FAMILY = (
    "Jansen", "de Vries", "van den Berg", "Bakker", "Visser", "Smit", "Meijer", "Mulder",
    "Kowalski", "Yilmaz", "Dubois", "Rossi", "Okafor", "Nguyen", "Schmidt", "Peters",
)  # fmt: skip
PHYSICIANS = ("Dr. H. de Groot", "Dr. A. Bos", "Dr. L. Hendriks", "Dr. M. Vos", "Dr. R. Kaya")
CLINICS = ("Internal Medicine", "Cardiology", "Nephrology", "General Practice", "Endocrinology")
TITLES = {
    "unsorted": "MEDICAL RECORD",
    "medical-history": "CLINICAL NOTE",
    "prescriptions": "PRESCRIPTION",
    "lab-results": "LABORATORY REPORT",
    "imaging": "IMAGING REQUEST",
    "consent-administrative": "ADMISSION FORM",
    "referral": "LETTER OF REFERRAL",
}
# name, unit, low, high, decimals
ANALYTES = (
    ("Haemoglobin", "g/dL", 12.0, 16.0, 1),
    ("White cell count", "10^9/L", 4.0, 11.0, 1),
    ("Platelets", "10^9/L", 150, 400, 0),
    ("Sodium", "mmol/L", 135, 145, 0),
    ("Potassium", "mmol/L", 3.5, 5.1, 1),
    ("Creatinine", "umol/L", 60, 110, 0),
    ("Urea", "mmol/L", 2.5, 7.8, 1),
    ("Glucose", "mmol/L", 3.9, 5.6, 1),
    ("HbA1c", "mmol/mol", 20, 42, 0),
    ("ALT", "U/L", 7, 56, 0),
    ("AST", "U/L", 10, 40, 0),
    ("C-reactive protein", "mg/L", 0.0, 5.0, 1),
    ("TSH", "mU/L", 0.40, 4.00, 2),
    ("Calcium", "mmol/L", 2.20, 2.60, 2),
    ("Ferritin", "ug/L", 30, 400, 0),
    ("Albumin", "g/L", 35, 50, 0),
)


@dataclass(frozen=True, slots=True)
class _Patient:
    name: str
    family: str
    given: str
    birth_date: dt.date
    sex: str
    mrn: str
    document_id: str
    collected: dt.date
    physician: str
    clinic: str


def _patient(rng: random.Random, mrn: str | None) -> _Patient:
    given, family = rng.choice(GIVEN), rng.choice(FAMILY)
    birth = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randrange(90 * 365))
    collected = dt.date(2022, 1, 1) + dt.timedelta(days=rng.randrange(4 * 365))
    return _Patient(
        name=f"{given} {family}",
        family=family,
        given=given,
        birth_date=birth,
        sex=rng.choice(("F", "M")),
        mrn=mrn or f"{rng.randrange(10**8):08d}",
        document_id=f"DOC-{collected.year}-{rng.randrange(10**6):06d}",
        collected=collected,
        physician=rng.choice(PHYSICIANS),
        clinic=rng.choice(CLINICS),
    )


def _birth_date_text(date: dt.date, rng: random.Random) -> str:
    style = rng.randrange(3)
    if style == 0:
        return date.isoformat()
    if style == 1:
        return date.strftime("%d/%m/%Y")
    return date.strftime("%d %b %Y")


def _lab_rows(rng: random.Random) -> tuple[LabRow, ...]:
    rows = []
    for test, unit, low, high, decimals in rng.sample(ANALYTES, rng.randint(8, 12)):
        span = high - low
        roll = rng.random()
        if roll < 0.15 and low > 0:
            value = low - rng.uniform(0.05, 0.4) * min(span, low)
        elif roll < 0.3:
            value = high + rng.uniform(0.05, 0.8) * span
        else:
            value = rng.uniform(low, high)
        value = max(value, 0.0)
        text = f"{value:.{decimals}f}"
        shown = float(text)
        flag = "H" if shown > high else "L" if shown < low else ""
        rows.append(LabRow(test, text, unit, f"{low:.{decimals}f}", f"{high:.{decimals}f}", flag))
    return tuple(rows)


# -- drawing -------------------------------------------------------------------------------------


def inches(value: float) -> int:
    return round(value * DPI)


class _Canvas:
    """A page being drawn, remembering every text row for the ground truth."""

    def __init__(self, size: tuple[int, int], family: FontFamily) -> None:
        self.image = Image.new("RGB", size, PAPER)
        self.draw = ImageDraw.Draw(self.image)
        self.family = family
        self._rows: dict[int, list[tuple[int, str]]] = {}

    @property
    def width(self) -> int:
        return self.image.width

    @property
    def height(self) -> int:
        return self.image.height

    def text(
        self,
        x: int,
        y: int,
        text: str,
        points: float = 10,
        *,
        bold: bool = False,
        anchor: str = "la",
        fill: Rgb = INK,
    ) -> int:
        """Draw a text at (x, y) (top-left unless ``anchor``); returns its width."""
        font = self.family.load(points, bold=bold)
        self.draw.text((x, y), text, font=font, fill=fill, anchor=anchor)
        left = round(self.draw.textbbox((x, y), text, font=font, anchor=anchor)[0])
        self._rows.setdefault(y, []).append((left, text))
        return round(self.draw.textlength(text, font=font))

    def lines(self) -> tuple[str, ...]:
        return tuple(
            " ".join(text for _, text in sorted(self._rows[y])) for y in sorted(self._rows)
        )


def _barcode_pixels(
    content: str, symbology: Symbology, module: int, height: int = 0
) -> Image.Image:
    """A barcode drawn by zxing-cpp's writer, ``module`` pixels per module, with quiet zones."""
    formats = {
        "code128": zxingcpp.BarcodeFormat.Code128,
        "qr": zxingcpp.BarcodeFormat.QRCode,
        "datamatrix": zxingcpp.BarcodeFormat.DataMatrix,
    }
    # Square, as the labels print it: zxing picks a long rectangle for a long category.
    options = {"forceSquare": True} if symbology == "datamatrix" else {}
    code = zxingcpp.create_barcode(content, formats[symbology], **options)
    pixels = np.asarray(zxingcpp.write_barcode_to_image(code, scale=1, add_quiet_zones=True))
    image = Image.fromarray(pixels)
    target_h = height if symbology == "code128" and height else image.height * module
    return image.resize((image.width * module, target_h), Image.Resampling.NEAREST)


def _draw_barcodes(
    canvas: _Canvas, patient: _Patient, category: str, spec: PageSpec, x_right: int, y: int
) -> dict[Symbology, str]:
    """Code128 of the MRN with the 2D code to its right, the pair right-aligned at x_right."""
    payload = document_payload(patient.mrn, category, patient.document_id)
    linear = _barcode_pixels(patient.mrn, "code128", 4, inches(0.5))
    square = _barcode_pixels(payload, spec.symbology_2d, 6 if spec.symbology_2d == "qr" else 8)
    gap = inches(0.15)
    x = x_right - square.width - gap - linear.width
    canvas.image.paste(linear.convert("RGB"), (x, y))
    canvas.image.paste(square.convert("RGB"), (x_right - square.width, y))
    return {"code128": patient.mrn, spec.symbology_2d: payload}


def _draw_logo(canvas: _Canvas, rng: random.Random, x: int, y: int) -> None:
    """A clinic logo: small and coloured, so the colour stage must not take it for a marker."""
    size = inches(rng.uniform(0.22, 0.32))
    colour = MARKER_SRGB[rng.choice(COLOURS)]
    draw = canvas.draw
    shape = rng.randrange(3)
    if shape == 0:
        draw.ellipse((x, y, x + size, y + size), fill=colour)
    elif shape == 1:
        draw.rectangle((x, y, x + size, y + size), fill=colour)
    else:
        draw.polygon(((x + size // 2, y), (x + size, y + size), (x, y + size)), fill=colour)
    inner = size // 4
    draw.rectangle((x + inner, y + size // 2, x + size - inner, y + size // 2 + inner), fill=PAPER)


def _marker_colour(colour: str, fade: float) -> Rgb:
    r, g, b = MARKER_SRGB.get(colour) or FOREIGN_INKS[colour]
    paper = PAPER
    return (
        round(r + (paper[0] - r) * fade),
        round(g + (paper[1] - g) * fade),
        round(b + (paper[2] - b) * fade),
    )


def _draw_marker(
    canvas: _Canvas, spec: PageSpec, rng: random.Random, sticker_at: tuple[int, int]
) -> None:
    if spec.colour == NO_MARKER:
        return
    fill = _marker_colour(spec.colour, spec.degradation.fade)
    w, h = canvas.width, canvas.height
    if spec.placement == "band":
        canvas.draw.rectangle((0, 0, w, inches(0.38)), fill=fill)
    elif spec.placement == "side band":
        x = 0 if rng.random() < 0.5 else w - inches(0.38)
        canvas.draw.rectangle((x, 0, x + inches(0.38), h), fill=fill)
    else:
        x, y = sticker_at
        size = inches(0.8)
        if rng.random() < 0.5:
            canvas.draw.ellipse((x, y, x + size, y + size), fill=fill)
        else:
            canvas.draw.rounded_rectangle((x, y, x + size, y + size), inches(0.1), fill=fill)


def _draw_table(
    canvas: _Canvas, rows: Sequence[LabRow], x: int, y: int, points: float, *, ruled: bool
) -> int:
    """The lab table from (x, y); returns the y below it."""
    columns = (0.0, 2.5, 3.5, 4.6, 6.2)
    row_height = inches(points / 72 * 2.0)
    headers = ("Test", "Result", "Unit", "Reference range", "Flag")
    for column, title in zip(columns, headers, strict=True):
        canvas.text(x + inches(column), y, title, points, bold=True)
    y += row_height
    if ruled:
        canvas.draw.line(
            (x, y - inches(0.06), x + inches(6.5), y - inches(0.06)), fill=INK, width=3
        )
    for row in rows:
        cells = (row.test, row.value, row.unit, f"{row.low} - {row.high}", row.flag)
        for column, cell in zip(columns, cells, strict=True):
            if cell:
                canvas.text(
                    x + inches(column), y, cell, points, bold=bool(row.flag) and cell == row.flag
                )
        y += row_height
    if ruled:
        canvas.draw.line(
            (x, y - inches(0.06), x + inches(6.5), y - inches(0.06)), fill=INK, width=2
        )
    return y


def _category(colour: str) -> str:
    return next((c for c, col in CATEGORY_COLOURS.items() if col == colour), "unsorted")


@dataclass(frozen=True, slots=True)
class _Document:
    """What a layout draws, and where: the canvas and the page's content."""

    canvas: _Canvas
    spec: PageSpec
    rng: random.Random
    patient: _Patient
    category: str
    rows: tuple[LabRow, ...]
    birth_date_text: str
    margin: int = inches(0.85)


Drawn = tuple[dict[Symbology, str], tuple[int, int]]  # barcodes, where a sticker fits


def _letterhead(doc: _Document) -> Drawn:
    canvas, patient, margin = doc.canvas, doc.patient, doc.margin
    _draw_logo(canvas, doc.rng, margin, inches(0.62))
    canvas.text(margin + inches(0.45), inches(0.6), "ABC Medical Center", 16, bold=True)
    canvas.text(margin + inches(0.45), inches(0.95), f"Department of {patient.clinic}", 9)
    top_right = canvas.width - margin
    barcodes = _draw_barcodes(canvas, patient, doc.category, doc.spec, top_right, inches(0.55))
    canvas.text(margin, inches(1.9), TITLES[doc.category], 14, bold=True)
    left = (
        f"Name: {patient.name}",
        f"Date of birth: {doc.birth_date_text}",
        f"Document: {patient.document_id}",
        f"Physician: {patient.physician}",
    )
    right = (
        f"MRN: {patient.mrn}",
        f"Sex: {patient.sex}",
        f"Collected: {patient.collected.isoformat()}",
        f"Clinic: {patient.clinic}",
    )
    for i, (a, b) in enumerate(zip(left, right, strict=True)):
        y = inches(2.4 + i * 0.3)
        canvas.text(margin, y, a, 10)
        canvas.text(margin + inches(3.6), y, b, 10)
    end = _draw_table(canvas, doc.rows, margin, inches(3.9), 10, ruled=True)
    sticker_y = max(end + inches(0.3), canvas.height - inches(2.3))
    return barcodes, (canvas.width - margin - inches(0.9), sticker_y)


def _boxed(doc: _Document) -> Drawn:
    canvas, patient, margin = doc.canvas, doc.patient, doc.margin
    w, h = canvas.width, canvas.height
    canvas.text(w // 2, inches(0.62), "ABC MEDICAL CENTER", 15, bold=True, anchor="ma")
    canvas.text(w // 2, inches(0.95), TITLES[doc.category], 11, anchor="ma")
    canvas.draw.rectangle((margin, inches(1.35), w - margin, inches(2.65)), outline=INK, width=4)
    header = (
        f"Patient: {patient.family.upper()}, {patient.given}",
        f"DOB: {doc.birth_date_text}   Sex: {'Female' if patient.sex == 'F' else 'Male'}",
        f"MRN: {patient.mrn}   Document ID: {patient.document_id}",
    )
    for i, line in enumerate(header):
        canvas.text(margin + inches(0.2), inches(1.5 + i * 0.36), line, 11)
    end = _draw_table(canvas, doc.rows, margin, inches(3.0), 10, ruled=False)
    canvas.text(margin, end + inches(0.2), f"Requested by {patient.physician}", 10)
    barcodes = _draw_barcodes(canvas, patient, doc.category, doc.spec, w - margin, h - inches(1.6))
    _draw_logo(canvas, doc.rng, margin, h - inches(1.5))
    return barcodes, (w - margin - inches(0.8), inches(0.45))


def _compact(doc: _Document) -> Drawn:
    canvas, patient, margin = doc.canvas, doc.patient, doc.margin
    w, h = canvas.width, canvas.height
    barcodes = _draw_barcodes(canvas, patient, doc.category, doc.spec, w - margin, inches(0.6))
    canvas.text(margin, inches(0.65), TITLES[doc.category], 12, bold=True)
    lines = (
        f"Patient name: {patient.name}",
        f"Date of birth: {doc.birth_date_text}",
        f"MRN: {patient.mrn}",
        f"Sex: {patient.sex}",
        f"Document ID: {patient.document_id}",
    )
    for i, line in enumerate(lines):
        canvas.text(margin, inches(1.05 + i * 0.26), line, 9)
    end = _draw_table(canvas, doc.rows, margin, inches(2.6), 9, ruled=True)
    canvas.text(margin, end + inches(0.2), f"Clinic: {patient.clinic}", 9)
    _draw_logo(canvas, doc.rng, w - margin - inches(0.35), h - inches(1.2))
    return barcodes, (margin, h - inches(2.1))


_LAYOUTS = {"letterhead": _letterhead, "boxed": _boxed, "compact": _compact}


def _draw_document(spec: PageSpec, rng: random.Random) -> tuple[Image.Image, PageTruth]:
    family = available_fonts()[spec.font % len(available_fonts())]
    patient = _patient(rng, spec.mrn)
    rows = _lab_rows(rng)
    size = (inches(8.5), inches(11)) if spec.layout == "boxed" else (inches(8.27), inches(11.69))
    doc = _Document(
        canvas=_Canvas(size, family),
        spec=spec,
        rng=rng,
        patient=patient,
        category=_category(spec.colour),
        rows=rows,
        birth_date_text=_birth_date_text(patient.birth_date, rng),
    )
    barcodes, sticker = _LAYOUTS[spec.layout](doc)
    footer = f"Printed {patient.collected.isoformat()} - page 1 of 1"
    doc.canvas.text(doc.margin, doc.canvas.height - inches(0.75), footer, 8)
    _draw_marker(doc.canvas, spec, rng, sticker)
    truth = PageTruth(
        kind="document",
        mrn=patient.mrn,
        category=doc.category,
        colour=None if spec.colour == NO_MARKER else spec.colour,
        placement=None if spec.colour == NO_MARKER else spec.placement,
        grayscale=spec.degradation.grayscale,
        barcodes=barcodes,
        lines=doc.canvas.lines(),
        name=patient.name,
        birth_date=patient.birth_date,
        birth_date_text=doc.birth_date_text,
        sex=patient.sex,
        document_id=patient.document_id,
        lab_rows=rows,
    )
    return doc.canvas.image, truth


def _draw_separator(mrn: str, category: str, family: FontFamily) -> tuple[Image.Image, PageTruth]:
    canvas = _Canvas((inches(8.27), inches(11.69)), family)
    payload = separator_payload(mrn, category)
    margin = inches(1.0)
    canvas.text(margin, inches(1.0), "SEPARATOR SHEET", 24, bold=True)
    canvas.text(margin, inches(1.6), f"MRN: {mrn}", 14)
    canvas.text(margin, inches(2.0), f"Category: {category}", 14)
    linear = _barcode_pixels(payload, "code128", 4, inches(0.8))
    square = _barcode_pixels(payload, "qr", 10)
    canvas.image.paste(linear.convert("RGB"), (margin, inches(3.0)))
    canvas.image.paste(square.convert("RGB"), (margin, inches(4.3)))
    truth = PageTruth(
        kind="separator",
        mrn=mrn,
        category=category,
        colour=None,
        placement=None,
        grayscale=False,
        barcodes={"code128": payload, "qr": payload},
        lines=canvas.lines(),
    )
    return canvas.image, truth


# -- degrading and encoding ----------------------------------------------------------------------


def degrade(image: Image.Image, degradation: Degradation, seed: int) -> Image.Image:
    """Scanner effects in the order a scanner adds them: skew, lighting, optics, sensor, codec."""
    rng = np.random.default_rng(seed)
    pixels: Pixels = np.asarray(image, dtype=np.uint8)
    if degradation.rotation:
        h, w = pixels.shape[:2]
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degradation.rotation, 1.0)
        pixels = as_pixels(
            cv2.warpAffine(pixels, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=PAPER)
        )
    if degradation.uneven_light or degradation.cast != (1.0, 1.0, 1.0):
        pixels = _light(pixels, degradation, rng)
    if degradation.blur:
        pixels = as_pixels(cv2.GaussianBlur(pixels, (0, 0), degradation.blur))
    if degradation.dpi != DPI:
        h, w = pixels.shape[:2]
        factor = degradation.dpi / DPI
        size = (round(w * factor), round(h * factor))
        pixels = as_pixels(cv2.resize(pixels, size, interpolation=cv2.INTER_AREA))
    if degradation.noise:
        noise = rng.standard_normal(pixels.shape, dtype=np.float32) * degradation.noise
        pixels = np.clip(pixels + noise, 0, 255).astype(np.uint8)
    result = Image.fromarray(pixels)
    return result.convert("L") if degradation.grayscale else result


def _light(pixels: Pixels, degradation: Degradation, rng: np.random.Generator) -> Pixels:
    h, w = pixels.shape[:2]
    small_h, small_w = 64, max(1, round(64 * w / h))
    ys, xs = np.mgrid[0:small_h, 0:small_w].astype(np.float32)
    # Light falls off away from a random point (a lamp nearer one corner of the glass).
    cy, cx = rng.uniform(0, small_h), rng.uniform(0, small_w)
    distance = np.hypot((ys - cy) / small_h, (xs - cx) / small_w) / np.sqrt(2)
    field_small = (1.0 - degradation.uneven_light * np.clip(distance, 0, 1)).astype(np.float32)
    light = cv2.resize(field_small, (w, h), interpolation=cv2.INTER_LINEAR)
    gains = np.asarray(degradation.cast, dtype=np.float32)
    scaled = pixels.astype(np.float32) * light[:, :, None] * gains[None, None, :]
    return as_pixels(np.clip(scaled, 0, 255))


def encode(image: Image.Image, degradation: Degradation) -> tuple[bytes, str]:
    buffer = io.BytesIO()
    dpi = (degradation.dpi, degradation.dpi)
    if degradation.jpeg_quality is None:
        image.save(buffer, "PNG", dpi=dpi, compress_level=1)
        return buffer.getvalue(), "image/png"
    image.save(buffer, "JPEG", dpi=dpi, quality=degradation.jpeg_quality)
    return buffer.getvalue(), "image/jpeg"


# -- the public generators -----------------------------------------------------------------------


def render(spec: PageSpec) -> tuple[Image.Image, PageTruth]:
    """The degraded page as an image, with its ground truth."""
    rng = random.Random(spec.seed)
    image, truth = _draw_document(spec, rng)
    return degrade(image, spec.degradation, spec.seed), truth


def page(spec: PageSpec) -> SyntheticPage:
    """The page as a scanner would deliver it: a PNG or JPEG file."""
    image, truth = render(spec)
    data, media_type = encode(image, spec.degradation)
    return SyntheticPage(spec, truth, data, media_type)


def specs(count: int, seed: int = 1, presets: Sequence[str] = PRESETS) -> list[PageSpec]:
    """``count`` pages cycling through colours, placements and presets, layouts and fonts drawn."""
    result = []
    for i in range(count):
        rng = random.Random(seed * 1_000_003 + i)
        result.append(
            PageSpec(
                seed=seed * 1_000_003 + i,
                layout=rng.choice(LAYOUTS),
                font=rng.randrange(len(available_fonts())),
                colour=COLOURS[i % len(COLOURS)],
                placement=PLACEMENTS[(i // len(COLOURS)) % len(PLACEMENTS)],
                symbology_2d=rng.choice(("datamatrix", "qr")),
                degradation=degradation(presets[i % len(presets)], rng),
            )
        )
    return result


def corpus(count: int, seed: int = 1, presets: Sequence[str] = PRESETS) -> Iterator[SyntheticPage]:
    for spec in specs(count, seed, presets):
        yield page(spec)


# -- batch PDFs ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SyntheticBatch:
    """A scanner's multi-page PDF: separator sheets, each followed by its document's pages.

    ``pages[i]`` is the ground truth of PDF page i; pages before the first separator belong
    to no document ("unsorted").
    """

    data: bytes
    pages: tuple[PageTruth, ...]


def batch(
    seed: int = 1,
    documents: int = 3,
    pages_per_document: tuple[int, int] = (1, 2),
    unsorted: int = 1,
    jpeg_quality: int = 80,
) -> SyntheticBatch:
    """A batch scan: ``unsorted`` loose pages, then ``documents`` separated documents."""
    rng = random.Random(seed)
    images: list[Image.Image] = []
    truths: list[PageTruth] = []
    presets = ("clean", "rotated", "noisy", "colour cast", "faded", "combined")

    def add_page(colour: str, page_seed: int, mrn: str | None = None) -> PageTruth:
        spec_rng = random.Random(page_seed)
        spec = PageSpec(
            seed=page_seed,
            layout=spec_rng.choice(LAYOUTS),
            font=spec_rng.randrange(len(available_fonts())),
            colour=colour,
            placement=spec_rng.choice(PLACEMENTS),
            symbology_2d=spec_rng.choice(("datamatrix", "qr")),
            degradation=replace(degradation(spec_rng.choice(presets), spec_rng), dpi=DPI),
            mrn=mrn,
        )
        image, truth = render(spec)
        images.append(image.convert("RGB"))
        truths.append(truth)
        return truth

    for _ in range(unsorted):
        add_page(rng.choice(COLOURS), rng.randrange(2**31))
    for _ in range(documents):
        colour = rng.choice(COLOURS)
        category = _category(colour)
        mrn = f"{rng.randrange(10**8):08d}"
        sep_image, sep_truth = _draw_separator(
            mrn, category, available_fonts()[rng.randrange(len(available_fonts()))]
        )
        images.append(degrade(sep_image, degradation("rotated", rng), rng.randrange(2**31)))
        truths.append(sep_truth)
        for _ in range(rng.randint(*pages_per_document)):
            add_page(colour, rng.randrange(2**31), mrn)
    buffer = io.BytesIO()
    images[0].save(
        buffer,
        "PDF",
        save_all=True,
        append_images=images[1:],
        resolution=float(DPI),
        quality=jpeg_quality,
        creationDate=SCAN_TIME,  # Pillow would write the current time
        modDate=SCAN_TIME,
    )
    return SyntheticBatch(buffer.getvalue(), tuple(truths))
