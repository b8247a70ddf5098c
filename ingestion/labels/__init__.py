"""Printable labels, cover (separator) sheets and the colour calibration card, as PDF bytes.

    from ingestion.labels import LabelPatient, category_styles, label_pdf

    styles = category_styles(app.state.terminology)  # the site's colours if it stored a map
    pdf = label_pdf(LabelPatient(mrn, "Jansen, Maria", birth_date), "lab-results", doc_id,
                    styles=styles)

Pure functions: nothing is stored and nothing is logged. See docs/digitization.md.
"""

from ingestion.labels.calibration_card import Patch, calibration_card_pdf, calibration_patches
from ingestion.labels.colours import CategoryStyle, category_styles
from ingestion.labels.cover_sheet import cover_sheet_pdf
from ingestion.labels.errors import LabelError
from ingestion.labels.label import LABEL_SIZE, label_pdf
from ingestion.labels.patient import LabelPatient, patient_from_resource

__all__ = [
    "LABEL_SIZE",
    "CategoryStyle",
    "LabelError",
    "LabelPatient",
    "Patch",
    "calibration_card_pdf",
    "calibration_patches",
    "category_styles",
    "cover_sheet_pdf",
    "label_pdf",
    "patient_from_resource",
]
