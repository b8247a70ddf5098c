"""A read file → the documents it holds, each with its patient (MRN), category and document id
as the barcodes, the colour code and the checks agree on them, and the reasons it needs review.

A file without separator sheets is one document. With separator sheets, ``split.py`` cuts it;
pages before the first sheet are an "unsorted" document (review). Identity rules:

- MRN: the cover sheet's and every page's accepted MRN must be one value.
- Category: the barcodes' category must be a record category of the terminology (the codes
  ``medrec labels`` prints). The colour code, mapped through the colour → category ConceptMap,
  must agree when it is known; unknown (grayscale, no marker) is no evidence. No barcode
  category: the colour's, when every page agrees on one.
- Document id: one value from the pages' 2D codes, or None (printed before one was assigned:
  ``commit.py`` assigns one).

Reasons name pages by number, never patient data: they end up in job records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ingestion.labels.colours import category_styles
from ingestion.scans.payloads import parse_document
from ingestion.scans.pipeline import FileReading, PageFailure, PageReading
from ingestion.scans.split import PageCodes, SplitDocument, read_page, split_pages


@dataclass(frozen=True, slots=True, eq=False)
class ScannedDocument:
    number: int  # 0-based, in the file
    pages: tuple[PageReading, ...]
    failed: tuple[PageFailure, ...]
    mrn: str | None
    category: str | None  # a record category code
    document_id: str | None
    reasons: tuple[str, ...]  # why the whole document goes to review

    @property
    def needs_review(self) -> bool:
        return bool(self.reasons)

    @property
    def page_numbers(self) -> tuple[int, ...]:
        return tuple(sorted([p.index for p in self.pages] + [f.index for f in self.failed]))


@dataclass(frozen=True, slots=True)
class Categories:
    known: frozenset[str]  # record category codes
    by_colour: Mapping[str, str]  # label colour → record category


def bundled_categories() -> Categories:
    """The record categories and their colours, from the terminology content."""
    styles = category_styles()
    by_colour = {s.colour: code for code, s in styles.items() if s.colour is not None}
    return Categories(frozenset(styles), by_colour)


def documents(reading: FileReading, categories: Categories | None = None) -> list[ScannedDocument]:
    categories = bundled_categories() if categories is None else categories
    codes = [_codes(page) for page in reading.pages]
    if any(page.is_separator for page in codes):
        groups = list(split_pages(codes).documents)
    else:
        indexes = tuple(page.index for page in codes)
        problems = tuple(problem for page in codes for problem in page.problems)
        groups = [SplitDocument(None, None, None, indexes, problems=problems)]
    by_index = {page.index: page for page in reading.pages}
    return [
        _document(number, group, [by_index[i] for i in group.pages], categories, batch=len(groups))
        for number, group in enumerate(groups)
    ]


def _codes(page: PageReading | PageFailure) -> PageCodes:
    texts = [code.text for code in page.barcodes] if isinstance(page, PageReading) else []
    return read_page(page.index, texts)


def _document(
    number: int,
    group: SplitDocument,
    members: Sequence[PageReading | PageFailure],
    categories: Categories,
    batch: int,
) -> ScannedDocument:
    pages = tuple(p for p in members if isinstance(p, PageReading) and not p.separator)
    failed = tuple(p for p in members if isinstance(p, PageFailure))
    reasons = [problem.message for problem in group.problems]
    if group.unsorted and batch > 1:
        reasons.append("pages before the first separator sheet belong to no document")
    reasons += [f"page {f.index + 1} could not be read" for f in failed]
    if not pages:
        reasons.append("no readable page")
    mrn = _one("MRN", _header_values(pages, "mrn", reasons), group.mrn, reasons)
    if mrn is None and not any("MRN" in reason for reason in reasons):
        reasons.append("no MRN")
    # No document id at all is fine (printed before one was assigned); several, or one in
    # doubt, is not.
    ids = _header_values(pages, "document_id", reasons) | set(group.document_ids)
    document_id = _one("document id", ids, None, reasons) if ids else None
    category = _category(pages, group.category, categories, reasons)
    return ScannedDocument(
        number, pages, failed, mrn, category, document_id, tuple(dict.fromkeys(reasons))
    )


def _header_values(pages: Sequence[PageReading], name: str, reasons: list[str]) -> set[str]:
    values: set[str] = set()
    for page in pages:
        assert page.decision is not None
        decision = page.decision.header.get(name)
        if decision is None:
            continue
        if decision.accepted and isinstance(decision.value, str):
            values.add(decision.value)
        else:
            label = "MRN" if name == "mrn" else name.replace("_", " ")
            reasons.append(f"page {page.index + 1}: {label} uncertain")
    return values


def _one(what: str, values: set[str], sheet: str | None, reasons: list[str]) -> str | None:
    if sheet is not None:
        values = values | {sheet}
    if len(values) == 1:
        return next(iter(values))
    if values:
        reasons.append(f"the pages disagree on the {what}")
    return None


def _category(
    pages: Sequence[PageReading],
    sheet: str | None,
    categories: Categories,
    reasons: list[str],
) -> str | None:
    coded = {sheet} if sheet else set()
    for page in pages:
        for code in page.barcodes:
            parsed = parse_document(code.text)
            if parsed is not None:
                coded.add(parsed.category)
    coloured = {
        categories.by_colour.get(page.colour.category, "") for page in pages if page.colour.known
    }
    if "" in coloured:
        reasons.append("a colour code that maps to no record category")
    coloured.discard("")
    if len(coded) > 1:
        reasons.append("the barcodes disagree on the category")
        return None
    if coded:
        [category] = coded
        if category not in categories.known:
            reasons.append("the barcode's category is not a record category")
            return None
        if coloured - {category}:
            reasons.append("the colour code disagrees with the barcode's category")
        return category
    if len(coloured) == 1:
        return next(iter(coloured))
    reasons.append("no category: no barcode carries one and the colour code does not tell")
    return None
