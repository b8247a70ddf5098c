"""Record categories and the colour each is printed in, from the terminology content.

The colour of a category comes from the colour → category ConceptMap read backwards, through
the terminology service, so a site that stored its own map prints its own colours. The ink of a
colour (its sRGB) is the scan pipeline's reference colour of the same name: what is printed is
what the colour stage expects to see.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ingestion.labels.errors import LabelError
from ingestion.scans.colour import MARKER_SRGB
from terminology import TerminologyService, default_service

RECORD_CATEGORY = "https://medrec.dev/fhir/CodeSystem/record-category"
LABEL_COLOUR = "https://medrec.dev/fhir/CodeSystem/label-colour"
COLOUR_MAP = "https://medrec.dev/fhir/ConceptMap/colour-to-record-category"

Rgb = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class CategoryStyle:
    """How a category is printed. ``colour`` is None when the category has no colour code."""

    code: str
    display: str
    colour: str | None = None
    colour_display: str | None = None
    ink: Rgb | None = None  # None with a colour: no ink configured for it


def category_styles(
    service: TerminologyService | None = None, inks: Mapping[str, Rgb] = MARKER_SRGB
) -> dict[str, CategoryStyle]:
    """Every record category (code → style), in the CodeSystem's order."""
    service = service if service is not None else default_service()
    colours = service.code_system(LABEL_COLOUR)
    styles = {}
    for concept in service.code_system(RECORD_CATEGORY):
        match = service.translate(RECORD_CATEGORY, concept.code, url=COLOUR_MAP, reverse=True)
        found = match.first()
        colour = found.code if found is not None else None
        colour_concept = colours.get(colour) if colour else None
        styles[concept.code] = CategoryStyle(
            code=concept.code,
            display=concept.display or concept.code,
            colour=colour,
            colour_display=(colour_concept.display if colour_concept else None) or colour,
            ink=inks.get(colour) if colour else None,
        )
    return styles


def style_of(category: str, styles: Mapping[str, CategoryStyle]) -> CategoryStyle:
    """The category's style; refused when it is unknown or its colour has no ink (printing a
    guessed ink would give labels the scan pipeline cannot classify)."""
    style = styles.get(category)
    if style is None:
        raise LabelError(f"unknown record category {category!r}")
    if style.colour is not None and style.ink is None:
        raise LabelError(
            f"the colour {style.colour!r} of category {category!r} has no ink configured: "
            "add its reference colour to the scan pipeline's colour settings"
        )
    return style
