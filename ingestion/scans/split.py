"""Batch splitting: the pages of one multi-page scan → documents, at ``MEDSEP`` cover sheets.

The pages after a cover sheet, up to the next one, are one document of the sheet's patient and
category. Pages before the first cover sheet form an "unsorted" document for review. Nothing
that disagrees is merged silently: a page whose codes name another patient or category than
its cover sheet, a document id claimed for two patients, or a document id found in two
documents is reported as a ``Problem`` on the document, which then needs review. The payload
formats are in ``payloads.py``. Problem messages name no patient data (they end up in job
records); they point at pages by index.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from ingestion.scans.payloads import (
    CALIBRATION_PREFIX,
    DocumentCode,
    SeparatorCode,
    is_document,
    is_separator,
    parse_document,
    parse_separator,
)

Reason = Literal[
    "malformed code",  # a MEDSEP/MEDDOC payload that does not parse
    "conflicting codes",  # one page's codes disagree with each other
    "mrn mismatch",  # a page names another patient than its cover sheet
    "category mismatch",  # a page names another category than its cover sheet
    "duplicate document id",  # one document id claimed for two patients
    "document id in two documents",  # same patient, but the pages were split apart
    "empty document",  # a cover sheet followed by no page
]


@dataclass(frozen=True, slots=True)
class Problem:
    page: int  # index in the batch
    reason: Reason
    message: str  # for the reviewer: no MRN, name or other patient data


@dataclass(frozen=True, slots=True)
class PageCodes:
    """What one page's barcodes say, parsed."""

    index: int
    separator: SeparatorCode | None = None
    documents: tuple[DocumentCode, ...] = ()
    # Other texts: the Code128 MRN beside a MEDDOC code, or a foreign barcode (an outside lab's
    # sample number): not used for splitting, the MEDDOC code is the page's claim.
    plain: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()
    is_separator: bool = False  # also True for a malformed MEDSEP sheet: it still splits


@dataclass(frozen=True, slots=True)
class SplitDocument:
    """Consecutive pages of the batch. ``separator`` is the cover sheet's page index (None for
    the unsorted pages); ``pages`` are the document's pages, cover sheet excluded."""

    separator: int | None
    mrn: str | None
    category: str | None
    pages: tuple[int, ...]
    document_ids: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()

    @property
    def unsorted(self) -> bool:
        return self.separator is None

    @property
    def needs_review(self) -> bool:
        return self.unsorted or bool(self.problems)


@dataclass(frozen=True, slots=True)
class BatchSplit:
    documents: tuple[SplitDocument, ...]

    @property
    def problems(self) -> tuple[Problem, ...]:
        return tuple(problem for doc in self.documents for problem in doc.problems)


def read_page(index: int, texts: Iterable[str]) -> PageCodes:
    """Parse one page's barcode texts (as ``Barcode.text``; the same text may come twice)."""
    texts = list(dict.fromkeys(texts))
    problems: list[Problem] = []
    separators: set[SeparatorCode] = set()
    documents: dict[DocumentCode, None] = {}
    plain: list[str] = []
    for text in texts:
        if is_separator(text):
            code = parse_separator(text)
            if code is None:
                problems.append(Problem(index, "malformed code", f"page {index}: bad MEDSEP code"))
            else:
                separators.add(code)
        elif is_document(text):
            document = parse_document(text)
            if document is None:
                problems.append(Problem(index, "malformed code", f"page {index}: bad MEDDOC code"))
            else:
                documents[document] = None
        elif not text.startswith(CALIBRATION_PREFIX):
            plain.append(text)
    separator = next(iter(separators)) if len(separators) == 1 else None
    if len(separators) > 1:
        problems.append(
            Problem(index, "conflicting codes", f"page {index}: two different MEDSEP codes")
        )
    if len(documents) > 1:
        problems.append(Problem(index, "conflicting codes", f"page {index}: its barcodes disagree"))
    sheet = any(is_separator(text) for text in texts)
    return PageCodes(index, separator, tuple(documents), tuple(plain), tuple(problems), sheet)


def split_batch(pages: Sequence[Iterable[str]]) -> BatchSplit:
    """Split a batch given each page's barcode texts, in page order."""
    return split_pages([read_page(index, texts) for index, texts in enumerate(pages)])


def split_pages(pages: Sequence[PageCodes]) -> BatchSplit:
    groups: list[tuple[PageCodes | None, list[PageCodes]]] = []
    for page in pages:
        if page.is_separator:
            groups.append((page, []))
        elif groups:
            groups[-1][1].append(page)
        else:
            groups.append((None, [page]))
    duplicates = _duplicate_ids(groups)
    return BatchSplit(
        tuple(
            _document(sheet, members, duplicates.get(number, []))
            for number, (sheet, members) in enumerate(groups)
        )
    )


def _document(
    sheet: PageCodes | None, members: list[PageCodes], duplicates: list[Problem]
) -> SplitDocument:
    problems = [problem for page in (sheet, *members) if page for problem in page.problems]
    code = sheet.separator if sheet else None
    if sheet is not None and not members:
        problems.append(
            Problem(sheet.index, "empty document", f"page {sheet.index}: no pages follow it")
        )
    if code is not None:
        for page in members:
            problems.extend(_against_sheet(page, code))
    ids = (doc.document_id for page in members for doc in page.documents if doc.document_id)
    return SplitDocument(
        separator=sheet.index if sheet else None,
        mrn=code.mrn if code else None,
        category=code.category if code else None,
        pages=tuple(page.index for page in members),
        document_ids=tuple(dict.fromkeys(ids)),
        problems=(*problems, *duplicates),
    )


def _against_sheet(page: PageCodes, sheet: SeparatorCode) -> list[Problem]:
    problems = []
    if {doc.mrn for doc in page.documents} - {sheet.mrn}:
        message = f"page {page.index}: another patient than its cover sheet"
        problems.append(Problem(page.index, "mrn mismatch", message))
    if {doc.category for doc in page.documents} - {sheet.category}:
        message = f"page {page.index}: another category than its cover sheet"
        problems.append(Problem(page.index, "category mismatch", message))
    return problems


def _duplicate_ids(
    groups: list[tuple[PageCodes | None, list[PageCodes]]],
) -> dict[int, list[Problem]]:
    """A document id names one patient's document. Claimed for two patients, or found in two
    split documents, it is reported on every page that claims it (keyed by group number)."""
    claims: dict[str, list[tuple[int, int, str]]] = defaultdict(list)  # id → (group, page, MRN)
    for number, (_, members) in enumerate(groups):
        for page in members:
            for doc in page.documents:
                if doc.document_id:
                    claims[doc.document_id].append((number, page.index, doc.mrn))
    found: dict[int, list[Problem]] = defaultdict(list)
    for claimants in claims.values():
        pages = ", ".join(str(page) for _, page, _ in claimants)
        if len({mrn for _, _, mrn in claimants}) > 1:
            reason: Reason = "duplicate document id"
            message = f"one document id claimed for different patients on pages {pages}"
        elif len({number for number, _, _ in claimants}) > 1:
            reason = "document id in two documents"
            message = f"one document id in several documents of the batch, pages {pages}"
        else:
            continue
        for number, index, _ in claimants:
            found[number].append(Problem(index, reason, message))
    return found
