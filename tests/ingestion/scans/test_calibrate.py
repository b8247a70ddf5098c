"""`medrec calibrate`: reference colours measured from a scan of the calibration card, kept in
the database, used by the colour stage."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pymongo import AsyncMongoClient, MongoClient
from typer.testing import CliRunner

from fhir_server.cli import app as cli
from fhir_server.config import Settings
from ingestion.labels import calibration_card_pdf, calibration_patches
from ingestion.scans.calibrate import (
    CalibrationError,
    hue_shift,
    load_references,
    measure_card,
    save_references,
)
from ingestion.scans.colour import DEFAULT_REFERENCES, ColourClassifier
from ingestion.scans.rasterize import rasterize

SCALE = 300 / 72  # points -> pixels of the 300-dpi rendering
BLUISH_PURPLE = (100, 40, 170)  # a printer whose purple ink came out bluer


def card_scan(purple_ink: tuple[int, int, int] | None = None) -> bytes:
    """The card rendered at 300 dpi as a PNG, its purple patch optionally reprinted."""
    [image] = list(rasterize(calibration_card_pdf()))
    pixels = image.pixels.copy()
    if purple_ink is not None:
        (patch,) = [p for p in calibration_patches() if p.colour == "purple"]
        top, left = round(patch.top * SCALE), round(patch.left * SCALE)
        bottom, right = top + round(patch.height * SCALE), left + round(patch.width * SCALE)
        pixels[top:bottom, left:right] = purple_ink
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", dpi=(300, 300))
    return buffer.getvalue()


def marker(ink: tuple[int, int, int]) -> np.ndarray[Any, Any]:
    page = np.full((400, 600, 3), 255, np.uint8)
    page[100:300, 100:500] = ink
    return page


def test_a_faithful_print_measures_the_default_inks() -> None:
    measured = measure_card(card_scan())
    assert list(measured) == ["red", "blue", "green", "yellow", "purple"]
    for name, lab in measured.items():
        assert abs(hue_shift(DEFAULT_REFERENCES[name], lab)) < 2, name


def test_calibration_lets_the_colour_stage_recognise_a_printer_s_own_ink() -> None:
    measured = measure_card(card_scan(BLUISH_PURPLE))
    assert hue_shift(DEFAULT_REFERENCES["purple"], measured["purple"]) < -10
    assert ColourClassifier().classify_pixels(marker(BLUISH_PURPLE), 300.0).category == "unknown"
    calibrated = ColourClassifier(measured)
    assert calibrated.classify_pixels(marker(BLUISH_PURPLE), 300.0).category == "purple"
    # The other colours are still told apart.
    assert calibrated.classify_pixels(marker((20, 90, 200)), 300.0).category == "blue"


def test_a_page_that_is_not_the_card_is_refused() -> None:
    blank = io.BytesIO()
    Image.fromarray(np.full((3300, 2550, 3), 255, np.uint8)).save(blank, "PNG", dpi=(300, 300))
    with pytest.raises(CalibrationError, match="MEDCAL"):
        measure_card(blank.getvalue())


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Any]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_uri)
    yield client[settings.database]
    await client.close()


async def test_references_are_kept_in_the_database(db: Any) -> None:
    assert await load_references(db) == DEFAULT_REFERENCES
    measured = measure_card(card_scan(BLUISH_PURPLE))
    await save_references(db, {"purple": measured["purple"]})
    loaded = await load_references(db)
    assert loaded["purple"] == pytest.approx(measured["purple"])
    assert loaded["red"] == DEFAULT_REFERENCES["red"]  # not on the card: the default stays


def test_the_command_measures_saves_and_reports(
    tmp_path: Path, mongodb_uri: str, database_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDREC_MONGODB_URI", mongodb_uri)
    monkeypatch.setenv("MEDREC_DATABASE", database_name)
    scan = tmp_path / "card.png"
    scan.write_bytes(card_scan(BLUISH_PURPLE))
    result = CliRunner().invoke(cli, ["calibrate", str(scan)])
    assert result.exit_code == 0, result.output
    assert "purple" in result.output and "saved 5 reference colours" in result.output
    with MongoClient(mongodb_uri) as client:
        stored = client[database_name]["medrec_meta"].find_one({"_id": "colour_references"})
    assert stored is not None and set(stored["references"]) == set(DEFAULT_REFERENCES)
    (tmp_path / "blank.png").write_bytes(b"not an image")
    refused = CliRunner().invoke(cli, ["calibrate", str(tmp_path / "blank.png")])
    assert refused.exit_code == 1
