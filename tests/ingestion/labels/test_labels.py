from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from ingestion.labels import (
    LabelError,
    LabelPatient,
    calibration_card_pdf,
    calibration_patches,
    category_styles,
    cover_sheet_pdf,
    label_pdf,
)
from ingestion.labels.codes import TwoD
from ingestion.labels.colours import COLOUR_MAP, LABEL_COLOUR, RECORD_CATEGORY
from ingestion.scans.colour import MARKER_SRGB, ColourClassifier
from ingestion.scans.payloads import parse_calibration, parse_document
from ingestion.scans.split import split_batch
from terminology import TerminologyService, default_service
from terminology.content import LayeredContent, MemoryContent, bundled_content
from tests.ingestion.labels.scan import read_pdf

PATIENT = LabelPatient("12345678", "Jansen-de Vries, Maria", dt.date(1961, 4, 2))
COLOURED = ["medical-history", "prescriptions", "lab-results", "imaging", "consent-administrative"]


def category_of(colour: str, service: TerminologyService | None = None) -> str | None:
    """What the pipeline will do with the colour it reads: the ConceptMap, forwards."""
    match = (service or default_service()).translate(LABEL_COLOUR, colour, url=COLOUR_MAP).first()
    return match.code if match else None


def test_styles_come_from_the_terminology_content() -> None:
    styles = category_styles()
    assert list(styles) == [*COLOURED, "referral"]
    assert styles["lab-results"].colour == "green"
    assert styles["lab-results"].ink == MARKER_SRGB["green"]
    assert styles["lab-results"].display == "Lab results"
    assert styles["referral"].colour is None  # no colour code in the default map


@pytest.mark.parametrize("number, category", list(enumerate(COLOURED)))
def test_label_round_trip(number: int, category: str) -> None:
    symbology: TwoD = "datamatrix" if number % 2 == 0 else "qr"
    document_id = f"DOC-2026-{number:06d}"
    [page] = read_pdf(label_pdf(PATIENT, category, document_id, symbology=symbology))
    assert page.codes == {
        "code128": PATIENT.mrn,
        symbology: f"MEDDOC:{PATIENT.mrn}:{category}:{document_id}",
    }
    assert page.colour.known
    assert category_of(page.colour.category) == category


def test_label_without_document_id_carries_an_empty_one() -> None:
    [page] = read_pdf(label_pdf(PATIENT, "imaging", None))
    code = parse_document(page.codes["datamatrix"])
    assert code is not None
    assert (code.mrn, code.category, code.document_id) == (PATIENT.mrn, "imaging", None)


def test_label_of_a_category_without_colour_has_no_marker() -> None:
    [page] = read_pdf(label_pdf(PATIENT, "referral", "R-1"))
    assert page.codes["datamatrix"] == f"MEDDOC:{PATIENT.mrn}:referral:R-1"
    # no ink at all: the page reads as a grayscale scan, the colour stage answers "unknown"
    assert (page.colour.category, page.colour.reason) == ("unknown", "grayscale")


def test_copies_and_determinism() -> None:
    pdf = label_pdf(PATIENT, "imaging", "D-1", copies=3)
    assert pdf == label_pdf(PATIENT, "imaging", "D-1", copies=3)
    pages = read_pdf(pdf)
    assert len(pages) == 3
    assert {page.codes["datamatrix"] for page in pages} == {f"MEDDOC:{PATIENT.mrn}:imaging:D-1"}


@pytest.mark.parametrize("category", ["prescriptions", "consent-administrative"])
def test_cover_sheet_round_trip_and_split(category: str) -> None:
    sheet = read_pdf(cover_sheet_pdf(PATIENT, category))
    label = read_pdf(label_pdf(PATIENT, category, "D-7"))
    loose = read_pdf(label_pdf(PATIENT, "imaging", "D-6"))
    [sheet_page] = sheet
    payload = f"MEDSEP:{PATIENT.mrn}:{category}"
    assert sheet_page.codes == {"code128": payload, "qr": payload}
    assert category_of(sheet_page.colour.category) == category
    # a printed cover sheet in front of a labelled page splits into one clean document
    split = split_batch([page.codes.values() for page in (*loose, *sheet, *label)])
    unsorted, document = split.documents
    assert unsorted.unsorted and unsorted.pages == (0,)
    assert (document.separator, document.pages) == (1, (2,))
    assert (document.mrn, document.category, document.document_ids) == (
        PATIENT.mrn,
        category,
        ("D-7",),
    )
    assert not document.problems


def test_calibration_card_round_trip() -> None:
    [page] = read_pdf(calibration_card_pdf())
    patches = calibration_patches()
    assert [patch.colour for patch in patches] == ["red", "blue", "green", "yellow", "purple"]
    assert page.codes["code128"] == page.codes["qr"]
    assert parse_calibration(page.codes["qr"]) == tuple(patch.colour for patch in patches)
    classifier = ColourClassifier()
    scale = 300 / 72  # points → pixels of the 300-dpi rendering
    for patch in patches:
        top, left = round(patch.top * scale), round(patch.left * scale)
        crop = page.image.pixels[
            top - 60 : top + round(patch.height * scale) + 60,
            left - 60 : left + round(patch.width * scale) + 60,
        ]
        inner = page.image.pixels[top + 20 : top + 40, left + 20 : left + 40].reshape(-1, 3)
        assert np.abs(inner.mean(axis=0) - patch.ink).max() < 3  # printed with the label inks
        assert classifier.classify_pixels(crop, 300.0).category == patch.colour


def site_service(*, orange_ink: bool) -> tuple[TerminologyService, dict[str, tuple[int, int, int]]]:
    site = MemoryContent(
        [
            {
                "resourceType": "ConceptMap",
                "id": "site-colours",
                "status": "active",
                "url": COLOUR_MAP,
                "group": [
                    {
                        "source": LABEL_COLOUR,
                        "target": RECORD_CATEGORY,
                        "element": [
                            {
                                "code": "orange",
                                "target": [{"code": "referral", "equivalence": "equivalent"}],
                            },
                            {
                                "code": "blue",
                                "target": [{"code": "lab-results", "equivalence": "equivalent"}],
                            },
                        ],
                    }
                ],
            }
        ]
    )
    inks = {**MARKER_SRGB, "orange": (240, 130, 20)} if orange_ink else dict(MARKER_SRGB)
    return TerminologyService(LayeredContent(site, bundled_content())), inks


def test_a_sites_colour_map_decides_the_band() -> None:
    service, inks = site_service(orange_ink=True)
    styles = category_styles(service, inks)
    assert styles["lab-results"].colour == "blue"
    assert styles["imaging"].colour is None  # the site's map replaces the default one
    [page] = read_pdf(label_pdf(PATIENT, "lab-results", "D-1", styles=styles))
    assert category_of(page.colour.category, service) == "lab-results"
    [page] = read_pdf(label_pdf(PATIENT, "referral", "D-2", styles=styles))
    band = page.image.pixels[20:80, 100:1100].reshape(-1, 3).mean(axis=0)
    assert np.abs(band - (240, 130, 20)).max() < 3


def test_a_colour_without_ink_is_refused() -> None:
    service, inks = site_service(orange_ink=False)
    styles = category_styles(service, inks)
    with pytest.raises(LabelError, match="no ink"):
        label_pdf(PATIENT, "referral", "D-2", styles=styles)
    with pytest.raises(LabelError, match="no ink"):
        calibration_card_pdf(styles)


@pytest.mark.parametrize(
    "patient, category, document_id, message",
    [
        (PATIENT, "x-rays", "D-1", "unknown record category"),
        (LabelPatient("123:45", "A", dt.date(2000, 1, 1)), "imaging", "D-1", "MRN"),
        (PATIENT, "imaging", "D:1", "document id"),
        (LabelPatient("1", "王小明", dt.date(2000, 1, 1)), "imaging", None, "cannot print"),
    ],
)
def test_refusals(
    patient: LabelPatient, category: str, document_id: str | None, message: str
) -> None:
    with pytest.raises(LabelError, match=message) as error:
        label_pdf(patient, category, document_id)
    assert patient.name not in str(error.value)  # errors name no patient data


@pytest.mark.parametrize(
    "patient, category, message",
    [
        (PATIENT, "x-rays", "unknown record category"),
        (LabelPatient("123:45", "A", dt.date(2000, 1, 1)), "imaging", "MRN"),
        (LabelPatient("1", "王小明", dt.date(2000, 1, 1)), "imaging", "cannot print"),
    ],
)
def test_cover_sheet_refusals(patient: LabelPatient, category: str, message: str) -> None:
    with pytest.raises(LabelError, match=message):
        cover_sheet_pdf(patient, category)


def test_a_too_long_mrn_is_refused_not_shrunk_unreadably() -> None:
    with pytest.raises(LabelError, match="does not fit"):
        label_pdf(LabelPatient("A" * 40, "A", dt.date(2000, 1, 1)), "imaging", "D-1")
