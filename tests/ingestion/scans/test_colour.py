"""The colour code: every colour in every placement under casts, and "unknown" when in doubt."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from ingestion.scans import synthetic
from ingestion.scans.colour import DEFAULT_REFERENCES, MARKER_SRGB, ColourClassifier, lab_from_srgb
from ingestion.scans.normalize import normalize
from ingestion.scans.page import ColourMatch
from ingestion.scans.rasterize import rasterize
from tests.ingestion.scans.corpus import Processed


def classify(spec: synthetic.PageSpec, classifier: ColourClassifier | None = None) -> ColourMatch:
    [image] = rasterize(synthetic.page(spec).data)
    return (classifier or ColourClassifier()).classify(normalize(image))


def test_every_colour_in_every_placement_under_a_cast(corpus: list[Processed]) -> None:
    seen = set()
    for item in corpus:
        truth = item.page.truth
        assert item.colour.category == truth.expected_colour, (truth, item.colour)
        if not truth.grayscale:
            assert truth.colour is not None
            assert item.colour.known
            assert item.colour.shape == truth.placement
            seen.add((truth.colour, truth.placement))
    assert seen == {(colour, place) for colour in MARKER_SRGB for place in synthetic.PLACEMENTS}


def test_grayscale_scan_is_unknown(corpus: list[Processed]) -> None:
    gray = [item for item in corpus if item.page.truth.grayscale]
    assert gray
    for item in gray:
        assert item.colour.category == "unknown"
        assert item.colour.reason == "grayscale"


@pytest.mark.parametrize("ink", sorted(synthetic.FOREIGN_INKS))
def test_a_colour_that_is_no_reference_is_unknown(ink: str) -> None:
    spec = synthetic.PageSpec(seed=31, colour=ink, placement="sticker")
    match = classify(spec)
    assert match.category == "unknown"
    assert match.reason == "unmatched colour"


def test_logos_alone_are_not_a_marker() -> None:
    # Every layout carries a small coloured logo; without a marker the answer is unknown.
    for layout in synthetic.LAYOUTS:
        match = classify(synthetic.PageSpec(seed=32, layout=layout, colour=synthetic.NO_MARKER))
        assert (match.category, match.reason) == ("unknown", "no marker")


def test_heavily_faded_and_unevenly_lit_markers() -> None:
    rng = random.Random(5)
    for i, colour in enumerate(synthetic.COLOURS):
        cast = synthetic.degradation("colour cast", rng).cast
        spec = synthetic.PageSpec(
            seed=40 + i,
            colour=colour,
            placement=synthetic.PLACEMENTS[i % 3],
            degradation=synthetic.Degradation("faded", fade=0.6, uneven_light=0.35, cast=cast),
        )
        assert classify(spec).category == colour


def test_reference_colours_are_configurable() -> None:
    spec = synthetic.PageSpec(seed=33, colour="red")
    custom = ColourClassifier(
        {"lab": DEFAULT_REFERENCES["red"], "x-ray": lab_from_srgb((0, 0, 255))}
    )
    assert classify(spec, custom).category == "lab"
    # With red missing from the references, a red marker matches nothing.
    without_red = {name: lab for name, lab in DEFAULT_REFERENCES.items() if name != "red"}
    assert classify(spec, ColourClassifier(without_red)).category == "unknown"


def test_two_references_too_close_to_tell_apart_are_ambiguous() -> None:
    near_red = lab_from_srgb((215, 45, 45))
    classifier = ColourClassifier({"red": DEFAULT_REFERENCES["red"], "also red": near_red})
    match = classify(synthetic.PageSpec(seed=34, colour="red"), classifier)
    assert (match.category, match.reason) == ("unknown", "ambiguous colour")


def test_faded_grayscale_and_cast_page_is_still_unknown() -> None:
    base = synthetic.degradation("grayscale", random.Random(2))
    spec = synthetic.PageSpec(seed=35, degradation=replace(base, cast=(1.0, 0.9, 0.75)))
    assert classify(spec).category == "unknown"
