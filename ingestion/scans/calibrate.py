"""Reference colours from a scanned calibration card (``medrec calibrate SCAN``).

The card (``medrec labels --calibration-card``) carries its colour names, in patch order, in a
``MEDCAL:`` barcode and one patch per colour, top to bottom. Printed with the site's label
printer and paper and scanned with its scanner, each patch's white-balanced Lab colour becomes
that colour's reference: the colour stage then matches markers against what this printer and
scanner actually produce. The references are kept in the database for every worker.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import cv2
import numpy as np
from pymongo.asynchronous.database import AsyncDatabase

from fhir_server.storage.index_format import META_COLLECTION
from ingestion.scans.barcodes import read_barcodes
from ingestion.scans.colour import DEFAULT_REFERENCES, Lab, white_balance
from ingestion.scans.errors import ScanError
from ingestion.scans.normalize import normalize
from ingestion.scans.payloads import parse_calibration
from ingestion.scans.rasterize import open_scan

REFERENCES_KEY = "colour_references"
MIN_CHROMA = 14.0  # as the colour stage: paper is below 5 once white-balanced
MIN_PATCH_IN2 = 0.6  # a patch is 1.28 in²; logos and text stay far below


class CalibrationError(ScanError):
    """The scan is not a readable calibration card."""


def measure_card(scan: bytes) -> dict[str, Lab]:
    """Each colour's Lab as the card's patches show it (first page of ``scan``)."""
    with open_scan(scan) as opened:
        if opened.page_count < 1:
            raise CalibrationError("the scan has no page")
        page = normalize(opened.page(0))
    colours = next(
        (found for code in read_barcodes(page.gray) if (found := parse_calibration(code.text))),
        None,
    )
    if colours is None:
        raise CalibrationError("no MEDCAL barcode: is this the calibration card?")
    if page.colour is None:
        raise CalibrationError("the scan is grayscale: scan the card in colour")
    lab = cv2.cvtColor(white_balance(page.colour, page.colour_dpi), cv2.COLOR_RGB2Lab)
    patches = _patches(lab, page.colour_dpi)
    if len(patches) != len(colours):
        raise CalibrationError(
            f"the card names {len(colours)} colours but {len(patches)} patches were found"
        )
    return {colour: patch for colour, patch in zip(colours, patches, strict=True)}


def _patches(lab: np.ndarray[Any, Any], dpi: float) -> list[Lab]:
    """The median Lab of each large saturated patch, top to bottom (edges left out)."""
    chroma = np.hypot(lab[:, :, 1], lab[:, :, 2])
    mask = (chroma >= MIN_CHROMA).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    found: list[tuple[int, Lab]] = []
    for label in range(1, count):
        if stats[label, cv2.CC_STAT_AREA] / (dpi * dpi) < MIN_PATCH_IN2:
            continue
        inside = cv2.erode((labels == label).astype(np.uint8), np.ones((5, 5), np.uint8))
        pixels = lab[inside.astype(bool)]
        if len(pixels) == 0:
            continue
        L, a, b = (float(v) for v in np.median(pixels, axis=0))
        found.append((int(stats[label, cv2.CC_STAT_TOP]), (L, a, b)))
    return [colour for _, colour in sorted(found)]


def hue_shift(before: Lab, after: Lab) -> float:
    """Degrees the Lab hue moved from ``before`` to ``after`` (-180..180)."""
    turn = math.degrees(math.atan2(after[2], after[1]) - math.atan2(before[2], before[1]))
    return (turn + 180.0) % 360.0 - 180.0


async def save_references(db: AsyncDatabase[Any], references: Mapping[str, Lab]) -> None:
    await db[META_COLLECTION].replace_one(
        {"_id": REFERENCES_KEY},
        {
            "_id": REFERENCES_KEY,
            "references": {name: list(lab) for name, lab in references.items()},
            "calibrated": datetime.now(UTC),
        },
        upsert=True,
    )


async def load_references(db: AsyncDatabase[Any]) -> dict[str, Lab]:
    """The calibrated references over the defaults (a colour the card did not name keeps its
    default)."""
    stored = await db[META_COLLECTION].find_one({"_id": REFERENCES_KEY})
    references = dict(DEFAULT_REFERENCES)
    if stored is not None:
        for name, lab in stored.get("references", {}).items():
            references[name] = (float(lab[0]), float(lab[1]), float(lab[2]))
    return references
