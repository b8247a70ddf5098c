"""The test corpus: every colour in every placement (fifteen pages), each under a colour cast
plus one more of the degradation presets in turn, and two grayscale scans: every preset appears.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, replace

from ingestion.scans import synthetic
from ingestion.scans.barcodes import read_barcodes
from ingestion.scans.colour import ColourClassifier
from ingestion.scans.normalize import normalize
from ingestion.scans.page import Barcode, ColourMatch, NormalizedPage
from ingestion.scans.rasterize import rasterize

SEED = 7


@dataclass(frozen=True)
class Processed:
    page: synthetic.SyntheticPage
    normalized: NormalizedPage
    barcodes: list[Barcode]
    colour: ColourMatch


def corpus_specs() -> list[synthetic.PageSpec]:
    specs = []
    colour_presets = [preset for preset in synthetic.PRESETS if preset != "grayscale"]
    pairs = list(itertools.product(synthetic.COLOURS, synthetic.PLACEMENTS))
    pairs += [("green", "band"), ("purple", "sticker")]  # the grayscale scans
    for i, (colour, placement) in enumerate(pairs):
        rng = random.Random(SEED * 1000 + i)
        if i < 15:
            degradation = synthetic.degradation(colour_presets[i % len(colour_presets)], rng)
        else:
            degradation = synthetic.degradation("grayscale", rng)
        if degradation.cast == (1.0, 1.0, 1.0):
            degradation = replace(degradation, cast=synthetic.degradation("colour cast", rng).cast)
        specs.append(
            synthetic.PageSpec(
                seed=SEED * 1000 + i,
                layout=synthetic.LAYOUTS[i % len(synthetic.LAYOUTS)],
                font=i,
                colour=colour,
                placement=placement,
                symbology_2d="datamatrix" if i % 2 else "qr",
                degradation=degradation,
            )
        )
    return specs


def processed_corpus() -> list[Processed]:
    """Every corpus page through rasterize, normalize, barcodes and colour."""
    classifier = ColourClassifier()
    processed = []
    for spec in corpus_specs():
        page = synthetic.page(spec)
        [image] = rasterize(page.data)
        normalized = normalize(image)
        barcodes = read_barcodes(normalized.gray)
        processed.append(Processed(page, normalized, barcodes, classifier.classify(normalized)))
    return processed
