"""Parsing ER7: separators, character sets, escapes, structure, malformed input; the corpus is
also checked by hl7apy in strict mode (it catches mistakes python-hl7 lets through)."""

from __future__ import annotations

import pytest
from hl7apy.parser import parse_message

from ingestion.hl7v2.errors import Hl7Error
from ingestion.hl7v2.escape import DEFAULT, Delimiters, escape, unescape
from ingestion.hl7v2.parse import parse
from tests.ingestion.hl7v2 import corpus


@pytest.mark.parametrize("separator", ["\r", "\n", "\r\n"])
def test_every_segment_separator_keeps_every_segment(separator: str) -> None:
    text = corpus.oru("SEP1", corpus.CBC).replace("\r", separator)
    message = parse(text.encode())
    assert [s.name for s in message.segments].count("OBX") == len(corpus.CBC)
    assert message.control_id == "SEP1"
    assert message.message_type == "ORU" and message.trigger == "R01"


def test_fields_repetitions_components_subcomponents() -> None:
    message = parse(corpus.oru("STRUCT1").encode())
    pid = message.all("PID")[0]
    mrn, ssn = pid.repetitions(3)
    assert (mrn.text, mrn.component(4, 1), mrn.component(4, 2), mrn.component(5)) == (
        "MRN1001", "HOSP", "1.2.3.4.5", "MR",
    )  # fmt: skip
    assert ssn.component(4) == "SSA"
    assert pid.get(5, 1) == "Müller" and pid.get(5, 5) == "Dr"
    assert pid.get(11, 1) == "Hauptstraße 5"
    assert message.sender == "LABSYS|GOODHEALTH"
    assert pid.get(99) == "" and pid.repetitions(99) == ()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a\\F\\b", "a|b"),
        ("a\\S\\b\\T\\c\\R\\d", "a^b&c~d"),
        ("back\\E\\slash", "back\\slash"),
        ("line1\\.br\\line2", "line1\nline2"),
        ("\\X48656C6C6F\\", "Hello"),
        ("\\XC3A9\\", "é"),
        ("\\H\\bold\\N\\", "bold"),
        ("two\\.sp2\\lines", "two\n\nlines"),
        ("no escapes", "no escapes"),
        ("unknown \\Q\\ kept", "unknown \\Q\\ kept"),
    ],
)
def test_unescape(raw: str, expected: str) -> None:
    assert unescape(raw, DEFAULT, "utf-8") == expected


def test_escape_round_trips_through_unescape() -> None:
    text = "a|b^c&d~e\\f\ng"
    assert unescape(escape(text), DEFAULT, "utf-8") == text


def test_escapes_follow_the_message_delimiters() -> None:
    delimiters = Delimiters("#", "$", "*", "!", "@")
    assert unescape("a!F!b!S!c", delimiters, "utf-8") == "a#b$c"
    message = parse(b"MSH#$*!@#SND#F##R#20240101##ORU$R01#C1#P#2.5.1\rNTE#1##x!F!y$z")
    nte = message.all("NTE")[0]
    assert nte.get(3, 1) == "x#y" and nte.get(3, 2) == "z"


def test_escaped_delimiters_do_not_split() -> None:
    message = parse(corpus.oru("ESC1", corpus.LIPID).encode())
    comment = next(s for s in message.all("OBX") if s.get(3) == "COMM")
    assert comment.get(5) == "Pt fasting 12h\nRatio | risk ^ high"


def test_charset_from_msh_18() -> None:
    text = corpus.oru("LATIN1", charset="8859/1")
    message = parse(text.encode("iso-8859-1"))
    assert message.charset == "iso-8859-1"
    assert message.all("PID")[0].get(5) == "Müller"


def test_utf8_is_the_default() -> None:
    message = parse(corpus.oru("UTF8").encode())
    assert message.charset == "utf-8" and message.all("PID")[0].get(5) == "Müller"


def test_bytes_not_in_the_declared_charset_are_an_error() -> None:
    text = corpus.oru("BADUTF8")
    with pytest.raises(Hl7Error) as caught:
        parse(text.encode("iso-8859-1"))  # declared (by default) UTF-8
    assert caught.value.field == 18 and not caught.value.rejected


@pytest.mark.parametrize(
    ("raw", "rejected"),
    [
        (b"PID|1||123", True),  # no MSH
        (b"", True),
        (b"MSH|^~|LAB", True),  # too few encoding characters
        (b"MSH|^^\\&|LAB|F|R|F|2024||ORU^R01|1|P|2.5.1", True),  # repeated
        (b"MSH|abcd|LAB|F|R|F|2024||ORU^R01|1|P|2.5.1", True),  # alphanumeric
        (bytes(range(256)) * 4, True),  # binary garbage
        (b"MSH|^~\\&|LAB|F|R|F|2024||ORU^R01|1|P|2.5.1||||||UNKNOWN-CHARSET", True),
        (b"MSH|^~\\&|LAB|F|R|F|2024||ORU^R01|1|P|2.5.1\rpid|1", False),  # bad segment name
        (b"MSH|^~\\&|LAB|F|R|F|2024||ORU^R01|1|P|2.5.1\r\x00\x01\x02garbage", False),
    ],
)
def test_malformed(raw: bytes, rejected: bool) -> None:
    with pytest.raises(Hl7Error) as caught:
        parse(raw)
    assert caught.value.rejected is rejected


def _corpus() -> list[str]:
    return [
        corpus.oru("V1", corpus.CBC),
        corpus.oru("V2", corpus.METABOLIC),
        corpus.oru("V3", corpus.LIPID),
        *(corpus.adt(event, f"V{event}") for event in ("A01", "A03", "A04", "A08")),
        corpus.merge("V40", survivor="MRN1", losing="MRN2"),
        corpus.mdm("VD1"),
    ]


@pytest.mark.parametrize("text", _corpus(), ids=lambda t: t.split("|")[8])
def test_the_corpus_is_valid_for_hl7apy_strict(text: str) -> None:
    message = parse_message(text, validation_level=1, find_groups=True)  # 1: strict
    message.validate()
    ours = parse(text.encode())
    assert len(ours.segments) == len(text.rstrip("\r").split("\r"))
