from __future__ import annotations

from dataclasses import dataclass

import pytest

from ingestion.scans import synthetic
from ingestion.scans.barcodes import read_barcodes
from ingestion.scans.normalize import normalize
from ingestion.scans.rasterize import rasterize
from ingestion.scans.split import split_batch


def sep(mrn: str, category: str = "lab") -> list[str]:
    payload = f"MEDSEP:{mrn}:{category}"
    return [payload, payload]  # Code128 and QR carry the same text


def doc(mrn: str, document_id: str = "", category: str = "lab") -> list[str]:
    return [mrn, f"MEDDOC:{mrn}:{category}:{document_id}"]


@dataclass(frozen=True)
class Expected:
    separator: int | None
    pages: tuple[int, ...]
    mrn: str | None = None
    category: str | None = None
    reasons: tuple[str, ...] = ()  # (page:reason) of each problem


CASES: dict[str, tuple[list[list[str]], list[Expected]]] = {
    "empty batch": ([], []),
    "no separator: all unsorted": (
        [doc("1", "A"), doc("2", "B"), []],
        [Expected(None, (0, 1, 2))],
    ),
    "unsorted, then two documents": (
        [
            doc("9", "Z"),
            sep("1"),
            doc("1", "A"),
            doc("1", "A"),
            sep("2", "img"),
            doc("2", "B", "img"),
        ],
        [
            Expected(None, (0,)),
            Expected(1, (2, 3), "1", "lab"),
            Expected(4, (5,), "2", "img"),
        ],
    ),
    "pages without codes stay in their document": (
        [sep("1"), doc("1", "A"), [], ["an outside lab's sample number"]],
        [Expected(0, (1, 2, 3), "1", "lab")],
    ),
    "cover sheet followed by another: empty document": (
        [sep("1"), sep("2"), doc("2", "A")],
        [Expected(0, (), "1", "lab", ("0:empty document",)), Expected(1, (2,), "2", "lab")],
    ),
    "cover sheet at the end: empty document": (
        [sep("1"), doc("1", "A"), sep("2")],
        [Expected(0, (1,), "1", "lab"), Expected(2, (), "2", "lab", ("2:empty document",))],
    ),
    "a page of another patient": (
        [sep("1"), doc("1", "A"), doc("2", "B")],
        [Expected(0, (1, 2), "1", "lab", ("2:mrn mismatch",))],
    ),
    "a page of another category": (
        [sep("1"), doc("1", "A", "img")],
        [Expected(0, (1,), "1", "lab", ("1:category mismatch",))],
    ),
    "one document id for two patients": (
        [doc("2", "A"), sep("1"), doc("1", "A")],
        [
            Expected(None, (0,), reasons=("0:duplicate document id",)),
            Expected(1, (2,), "1", "lab", ("2:duplicate document id",)),
        ],
    ),
    "one document id for two patients after one cover sheet": (
        [sep("1"), doc("1", "A"), doc("2", "A")],
        [
            Expected(
                0,
                (1, 2),
                "1",
                "lab",
                ("2:mrn mismatch", "1:duplicate document id", "2:duplicate document id"),
            )
        ],
    ),
    "one document split in two by a cover sheet": (
        [sep("1"), doc("1", "A"), sep("1"), doc("1", "A")],
        [
            Expected(0, (1,), "1", "lab", ("1:document id in two documents",)),
            Expected(2, (3,), "1", "lab", ("3:document id in two documents",)),
        ],
    ),
    "labels without a document id are not duplicates": (
        [sep("1"), doc("1"), sep("2"), doc("2")],
        [Expected(0, (1,), "1", "lab"), Expected(2, (3,), "2", "lab")],
    ),
    "a malformed cover sheet still splits, for review": (
        [doc("1", "A"), ["MEDSEP:1"], doc("1", "B")],
        [Expected(None, (0,)), Expected(1, (2,), None, None, ("1:malformed code",))],
    ),
    "a cover sheet with two different codes": (
        [["MEDSEP:1:lab", "MEDSEP:2:lab"], doc("1", "A")],
        [Expected(0, (1,), None, None, ("0:conflicting codes",))],
    ),
    "a page with two different document codes": (
        [sep("1"), [*doc("1", "A"), "MEDDOC:1:lab:B"]],
        [Expected(0, (1,), "1", "lab", ("1:conflicting codes",))],
    ),
    "a malformed document code": (
        [sep("1"), ["MEDDOC:1:lab"]],
        [Expected(0, (1,), "1", "lab", ("1:malformed code",))],
    ),
}


@pytest.mark.parametrize("pages, expected", CASES.values(), ids=CASES.keys())
def test_split(pages: list[list[str]], expected: list[Expected]) -> None:
    split = split_batch(pages)
    found = [
        Expected(
            d.separator,
            d.pages,
            d.mrn,
            d.category,
            tuple(f"{p.page}:{p.reason}" for p in d.problems),
        )
        for d in split.documents
    ]
    assert found == expected
    for document in split.documents:
        assert document.needs_review == (document.unsorted or bool(document.problems))


def test_problem_messages_name_no_patient_data() -> None:
    split = split_batch([doc("55501234", "A"), sep("55509876"), doc("55509876", "A")])
    assert split.problems
    assert not any("5550" in problem.message for problem in split.problems)


def test_document_ids_are_collected_once_per_document() -> None:
    split = split_batch([sep("1"), doc("1", "A"), doc("1", "A"), doc("1", "B")])
    assert split.documents[0].document_ids == ("A", "B")
    assert not split.problems


def test_synthetic_batch_pdf() -> None:
    """Scanner-style PDF → pages → barcodes → split: the generator's ground truth comes back."""
    batch = synthetic.batch(seed=8, documents=2, pages_per_document=(1, 2), unsorted=1)
    texts = [
        [code.text for code in read_barcodes(normalize(page).gray)]
        for page in rasterize(batch.data)
    ]
    split = split_batch(texts)
    expected: list[tuple[int | None, list[int], str | None, str | None]] = []
    for index, truth in enumerate(batch.pages):
        if truth.kind == "separator":
            expected.append((index, [], truth.mrn, truth.category))
        elif expected:
            expected[-1][1].append(index)
        else:
            expected.append((None, [index], None, None))
    assert [(d.separator, list(d.pages), d.mrn, d.category) for d in split.documents] == expected
    assert split.documents[0].unsorted
    assert not split.problems
    ids = [truth.document_id for truth in batch.pages if truth.kind == "document"]
    assert [i for d in split.documents for i in d.document_ids] == ids
