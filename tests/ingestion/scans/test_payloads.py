from __future__ import annotations

import pytest

from ingestion.scans.payloads import (
    DocumentCode,
    PayloadError,
    SeparatorCode,
    calibration_payload,
    document_payload,
    parse_calibration,
    parse_document,
    parse_separator,
    separator_payload,
)


def test_formats() -> None:
    assert document_payload("12345678", "imaging", "D-1") == "MEDDOC:12345678:imaging:D-1"
    assert document_payload("12345678", "imaging", None) == "MEDDOC:12345678:imaging:"
    assert separator_payload("12345678", "imaging") == "MEDSEP:12345678:imaging"
    assert calibration_payload(["red", "blue"]) == "MEDCAL:red,blue"


def test_round_trips() -> None:
    assert parse_document(document_payload("1", "lab", "D-1")) == DocumentCode("1", "lab", "D-1")
    assert parse_document(document_payload("1", "lab", None)) == DocumentCode("1", "lab", None)
    assert parse_separator(separator_payload("1", "lab")) == SeparatorCode("1", "lab")
    assert parse_calibration(calibration_payload(["red", "blue"])) == ("red", "blue")


@pytest.mark.parametrize(
    "text",
    [
        "MEDDOC:1:lab",
        "MEDDOC::lab:D",
        "MEDDOC:1::D",
        "MEDDOC:1:lab:D:E",
        "MEDSEP:1",
        "MEDSEP:1:",
        "MEDSEP:1:lab:x",
        "12345678",
        "medsep:1:lab",
    ],
)
def test_malformed_payloads_parse_to_none(text: str) -> None:
    assert parse_document(text) is None
    assert parse_separator(text) is None


@pytest.mark.parametrize("mrn, category", [("1:2", "lab"), ("", "lab"), ("1", ""), (" 1", "lab")])
def test_fields_that_cannot_be_encoded(mrn: str, category: str) -> None:
    with pytest.raises(PayloadError):
        separator_payload(mrn, category)
    with pytest.raises(PayloadError):
        document_payload(mrn, category, "D")
