"""The generator: deterministic, consistent ground truth, every variant it promises."""

from __future__ import annotations

import io
import random

from PIL import Image

from ingestion.scans import synthetic


def test_same_spec_same_bytes() -> None:
    spec = synthetic.specs(3, seed=9)[2]
    assert synthetic.page(spec).data == synthetic.page(spec).data
    assert synthetic.batch(seed=4, documents=1).data == synthetic.batch(seed=4, documents=1).data


def test_different_seeds_differ() -> None:
    a, b = synthetic.specs(2, seed=1)[0], synthetic.specs(2, seed=2)[0]
    assert synthetic.page(a).truth.mrn != synthetic.page(b).truth.mrn


def test_truth_describes_the_page() -> None:
    page = synthetic.page(synthetic.PageSpec(seed=5, symbology_2d="datamatrix"))
    truth = page.truth
    assert truth.barcodes == {
        "code128": truth.mrn,
        "datamatrix": f"MEDDOC:{truth.mrn}:{truth.category}:{truth.document_id}",
    }
    assert truth.category == "medical-history" and truth.colour == "red"  # the terminology's
    assert any(truth.mrn in line for line in truth.lines)
    assert any(truth.birth_date_text in line for line in truth.lines)
    assert 8 <= len(truth.lab_rows) <= 12
    for row in truth.lab_rows:
        value, low, high = float(row.value), float(row.low), float(row.high)
        assert row.flag == ("H" if value > high else "L" if value < low else "")
        assert any(line.startswith(f"{row.test} {row.value} {row.unit}") for line in truth.lines)


def test_degradations_show_in_the_file() -> None:
    rng = random.Random(1)
    gray = synthetic.page(
        synthetic.PageSpec(seed=6, degradation=synthetic.degradation("grayscale", rng))
    )
    assert Image.open(io.BytesIO(gray.data)).mode == "L"
    assert gray.truth.expected_colour == "unknown"
    low = synthetic.page(
        synthetic.PageSpec(seed=6, degradation=synthetic.degradation("150 dpi", rng))
    )
    image = Image.open(io.BytesIO(low.data))
    assert image.width == round(8.27 * 150) or image.width == round(8.5 * 150)
    assert round(image.info["dpi"][0]) == 150
    jpeg = synthetic.page(
        synthetic.PageSpec(seed=6, degradation=synthetic.degradation("jpeg 40", rng))
    )
    assert jpeg.media_type == "image/jpeg"
    clean = synthetic.page(
        synthetic.PageSpec(seed=6, degradation=synthetic.degradation("clean", rng))
    )
    assert clean.media_type == "image/png"


def test_specs_cover_colours_placements_and_presets() -> None:
    specs = synthetic.specs(33)
    assert {s.colour for s in specs} == set(synthetic.COLOURS)
    assert {s.placement for s in specs} == set(synthetic.PLACEMENTS)
    assert {s.degradation.name for s in specs} == set(synthetic.PRESETS)
    assert {s.layout for s in specs} == set(synthetic.LAYOUTS)
    assert {(s.colour, s.placement) for s in synthetic.specs(15)} == {
        (c, p) for c in synthetic.COLOURS for p in synthetic.PLACEMENTS
    }


def test_batch_has_separators_before_each_document() -> None:
    batch = synthetic.batch(seed=8, documents=3, pages_per_document=(1, 2), unsorted=1)
    kinds = [truth.kind for truth in batch.pages]
    assert kinds[0] == "document"  # the unsorted page before the first separator
    assert kinds.count("separator") == 3
    current = None
    for truth in batch.pages[1:]:
        if truth.kind == "separator":
            current = truth
            assert truth.barcodes["code128"] == synthetic.separator_payload(
                truth.mrn, truth.category
            )
        else:
            assert current is not None
            assert (truth.mrn, truth.category) == (current.mrn, current.category)
            assert truth.colour == synthetic.CATEGORY_COLOURS[truth.category]
