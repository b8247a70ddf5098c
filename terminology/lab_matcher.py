"""Printed lab test name (and unit) -> LOINC candidates with a confidence.

Used by the scan pipeline (OCR'd lab reports) and the HL7 v2 mappers (local test names). The
contract: a candidate at or above ``ACCEPT`` may be used without a human; anything below means
"ask a human". A wrong code on a lab result is worse than no code, so every rule below leans
towards saying "not sure":

1. exact: the normalized printed name is a name, abbreviation or LOINC display of the test;
2. the same after undoing common OCR confusions (``Hemog1obin``, ``T5H``, ``HbAic``,
   ``HbAl1c``), or in another word order (``Glucose, fasting``), or without specimen words
   (``Serum sodium``);
3. a name with a parenthesised alias (``ALT (SGPT)``): both halves must agree;
4. fuzzy (edit distance) on names of six letters or more, never on abbreviations (``MCH``,
   ``MCV`` and ``MCHC`` are one letter apart) nor across digits (``B1`` is not ``B12``), and
   accepted only when a single test is closest and the unit is one that test is reported in;
5. the unit: a unit the test is reported in keeps the score, a commensurable one lowers it a
   little, an incompatible one halves it. It is what separates ``Glucose`` in mg/dL from
   ``Glucose`` in mmol/L (two LOINC codes);
6. when the best two tests score within ``MARGIN`` of each other, neither is accepted.

``isolated`` says whether a printed name is more than one edit away from every other test's
names: the scan checks use it to tell a name one misread letter could turn into another test
(``AST``, ``ALT``) from one it could not (``HbA1c``).
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from terminology import ucum
from terminology.lab_catalogue import LabTest, default_catalogue

ACCEPT = 0.85  # at or above: usable without review
MARGIN = 0.05  # the best must beat the runner-up by this much
AMBIGUOUS = 0.6  # what tied candidates are capped at

# Confidence of each way of matching, before the unit is considered.
EXACT = 1.0
ABBREVIATION = 0.95
DISPLAY = 0.97
VARIANT = 0.9  # OCR-folded, reordered, or specimen words dropped
ALIAS_AGREE = 0.97
ALIAS_ONE = 0.8  # "X (Y)" where only one half is known: Y may be a qualifier ("2h pp")
FUZZY_1 = 0.86  # one edit, on a long name
FUZZY_2 = 0.75
FUZZY_3 = 0.65
UNCONFIRMED = 0.8  # the most a fuzzy match gets without a unit the test is reported in
# Unit evidence.
COMMENSURABLE_PENALTY = 0.1
INCOMPATIBLE_FACTOR = 0.5

# The glyphs OCR takes for each other, folded to one: the "1" of HbA1c comes back as l, i, I
# or t, and often as two of them (HbAl1c), hence runs of l folded to one.
_OCR = str.maketrans(
    {"0": "o", "1": "l", "i": "l", "t": "l", "5": "s", "8": "b", "|": "l", "!": "l", "$": "s"}
)
_RUN_OF_L = re.compile(r"l{2,}")
ISOLATION = 1  # edits: ``isolated`` names are further than this from any other test's names
ISOLATED_LENGTH = 5  # letters: shorter names have too many neighbours outside the catalogue
# Words that may be dropped from a printed name: noise, and specimens, the latter only when the
# test matched is on that specimen (B-Glucose is not the serum glucose of S-Glucose).
_NOISE_WORDS = frozenset({"level", "lvl", "conc", "concentration", "value", "result", "test"})
_SPECIMENS = {
    "Serum or Plasma": frozenset({"serum", "plasma", "ser", "plas", "s", "p", "sp"}),
    "Blood": frozenset({"b", "bld", "blood", "whole", "wb", "venous"}),
}
_TOKEN = re.compile(r"[a-z0-9]+|[%#]")
_PARENS = re.compile(r"^(.*?)\(([^()]*)\)(.*)$")


@dataclass(frozen=True, slots=True)
class Candidate:
    code: str
    display: str
    confidence: float
    method: str  # exact | abbreviation | display | ocr | reordered | specimen | alias | fuzzy-N
    matched: str  # the catalogue name or abbreviation that matched
    unit_fit: str  # listed | commensurable | incompatible | unknown (no unit, or unreadable)

    @property
    def accepted(self) -> bool:
        return self.confidence >= ACCEPT


@dataclass(frozen=True, slots=True)
class _Hit:
    test: LabTest
    score: float
    method: str
    matched: str


@dataclass(frozen=True, slots=True)
class _Name:
    """A printed name as fuzzy matching compares it."""

    text: str  # normalized and OCR-folded
    letters: frozenset[str]
    codes: tuple[str, ...]  # its short words with digits, and % / #
    hit: _Hit


class LabMatcher:
    def __init__(self, tests: Iterable[LabTest]) -> None:
        self.tests = tuple(tests)
        # normalized name -> its hits; the same OCR-folded, and with its words sorted
        self._exact: dict[str, list[_Hit]] = defaultdict(list)
        self._folded: dict[str, list[_Hit]] = defaultdict(list)
        self._sorted: dict[str, list[_Hit]] = defaultdict(list)
        # folded name -> its hit, by length (fuzzy matching compares names of similar length)
        self._names_by_length: dict[int, list[_Name]] = defaultdict(list)
        for test in self.tests:
            entries = [(n, "exact", EXACT) for n in test.names]
            entries += [(a, "abbreviation", ABBREVIATION) for a in test.abbreviations]
            entries.append((test.display, "display", DISPLAY))
            for text, method, score in entries:
                key = normalize(text)
                if not key:
                    continue
                hit = _Hit(test, score, method, text)
                self._exact[key].append(hit)
                self._folded[fold(key)].append(hit)
                self._sorted[" ".join(sorted(fold(key).split()))].append(hit)
                if method == "exact" and len(key) >= 5:
                    folded = fold(key)
                    name = _Name(folded, frozenset(folded), _code_words(key), hit)
                    self._names_by_length[len(folded)].append(name)

    def match(
        self, printed_name: str, printed_unit: str | None = None, limit: int = 5
    ) -> list[Candidate]:
        hits = self._hits(printed_name)
        unit = ucum.from_printed(printed_unit) if printed_unit and printed_unit.strip() else None
        best: dict[str, Candidate] = {}
        for hit in hits:
            fit, factor = _unit_fit(hit.test, unit)
            score = round(hit.score * factor, 4)
            if hit.method.startswith("fuzzy") and fit != "listed":
                score = min(score, UNCONFIRMED)  # a guessed name needs the unit to confirm it
            current = best.get(hit.test.code)
            if current is None or score > current.confidence:
                best[hit.test.code] = Candidate(
                    hit.test.code, hit.test.display, score, hit.method, hit.matched, fit
                )
        ranked = sorted(best.values(), key=lambda c: (-c.confidence, c.code))
        if len(ranked) >= 2 and ranked[0].confidence - ranked[1].confidence < MARGIN:
            ranked = [
                _capped(c) if c.confidence - ranked[0].confidence > -MARGIN else c for c in ranked
            ]
            ranked.sort(key=lambda c: (-c.confidence, c.code))
        return ranked[:limit]

    def isolated(self, printed_name: str, code: str) -> bool:
        """Whether ``printed_name`` (OCR-folded) is more than ``ISOLATION`` edits from every
        name and abbreviation of the tests other than ``code`` and the tests sharing a name
        with it (HbA1c in % and in mmol/mol: the unit tells those apart), and has at least
        ``ISOLATED_LENGTH`` letters."""
        key = fold(normalize(printed_name))
        if sum(c.isalpha() for c in key) < ISOLATED_LENGTH:
            return False
        siblings = self._siblings(code)
        return not any(
            _distance(key, name, ISOLATION) <= ISOLATION
            for name, hits in self._folded.items()
            if any(hit.test.code not in siblings for hit in hits)
        )

    def _siblings(self, code: str) -> set[str]:
        """``code`` and the tests that share a (folded) name or abbreviation with it."""
        found = {code}
        for hits in self._folded.values():
            codes = {hit.test.code for hit in hits}
            if code in codes:
                found |= codes
        return found

    # -- finding name hits ---------------------------------------------------------------------

    def _hits(self, printed: str) -> list[_Hit]:
        key = normalize(printed)
        if not key or len(key) > 120:
            return []
        found = self._lookup(key)
        if found:
            return found
        parens = _PARENS.match(printed)
        if parens:
            return self._alias(parens.group(1) + " " + parens.group(3), parens.group(2))
        return self._fuzzy(key)

    def _lookup(self, key: str) -> list[_Hit]:
        """Exact, then OCR-folded, reordered and specimen-free variants of one normalized key."""
        if key in self._exact:
            return list(self._exact[key])
        folded = fold(key)
        if folded in self._folded:
            return [
                _Hit(h.test, min(h.score, VARIANT), "ocr", h.matched) for h in self._folded[folded]
            ]
        reordered = " ".join(sorted(folded.split()))
        if reordered in self._sorted:
            return [
                _Hit(h.test, min(h.score, VARIANT), "reordered", h.matched)
                for h in self._sorted[reordered]
            ]
        bare, specimens = _without_specimen(folded)
        if bare and bare != folded:
            return [
                _Hit(h.test, min(h.score, VARIANT), "specimen", h.matched)
                for h in self._sorted.get(" ".join(sorted(bare.split())), ())
                if _on_specimen(h.test, specimens)
            ]
        return []

    def _alias(self, outside: str, inside: str) -> list[_Hit]:
        a, b = self._lookup(normalize(outside)), self._lookup(normalize(inside))
        codes_a, codes_b = {h.test.code for h in a}, {h.test.code for h in b}
        if a and b:
            agreed = codes_a & codes_b
            return [
                _Hit(h.test, ALIAS_AGREE, "alias", h.matched) for h in a if h.test.code in agreed
            ]
        return [_Hit(h.test, min(h.score, ALIAS_ONE), "alias", h.matched) for h in a or b]

    def _fuzzy(self, key: str) -> list[_Hit]:
        """Names within a few edits of the printed one (with and without specimen words)."""
        bare, specimens = _without_specimen(key)
        found: dict[tuple[str, str], _Hit] = {}
        hits = self._near(key)
        if bare != key:
            hits += [h for h in self._near(bare) if _on_specimen(h.test, specimens)]
        for hit in hits:
            known = found.get((hit.test.code, hit.matched))
            if known is None or hit.score > known.score:
                found[(hit.test.code, hit.matched)] = hit
        return list(found.values())

    def _near(self, key: str) -> list[_Hit]:
        folded = fold(key)
        if len(folded) < 6:
            return []  # one edit turns short names into each other (Color, Chloor)
        limit = 1 if len(folded) < 8 else 2 if len(folded) < 13 else 3
        codes = _code_words(key)
        letters = frozenset(folded)
        scores = {1: FUZZY_1, 2: FUZZY_2, 3: FUZZY_3}
        found: list[_Hit] = []
        for length in range(len(folded) - limit, len(folded) + limit + 1):
            for name in self._names_by_length.get(length, ()):
                if name.codes != codes:
                    continue  # B1 is not B12, T3 not T4, % not #: never one edit away
                # Each edit adds or removes at most two distinct letters: a cheap lower bound
                # that spares most of the full computations.
                if len(letters ^ name.letters) > 2 * limit:
                    continue
                distance = _distance(folded, name.text, limit)
                if 0 < distance <= limit:
                    hit = name.hit
                    found.append(_Hit(hit.test, scores[distance], f"fuzzy-{distance}", hit.matched))
        return found


def normalize(text: str) -> str:
    """Lowercase words without accents or punctuation; % and # kept as words of their own."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(_TOKEN.findall(plain.lower()))


def fold(key: str) -> str:
    """Undo OCR's confusions inside words that have letters (1, i, t -> l and a run of l -> l;
    0 -> o, 5 -> s, 8 -> b; rn -> m), leaving numbers alone (25, 1.73)."""
    words = []
    for word in key.split():
        if any(c.isalpha() for c in word):
            word = _RUN_OF_L.sub("l", word.translate(_OCR).replace("rn", "m"))
        words.append(word)
    return " ".join(words)


def _without_specimen(key: str) -> tuple[str, set[str]]:
    """The key without noise and specimen words, and the specimens those words named."""
    kept, specimens = [], set()
    for word in key.split():
        named = [s for s, words in _SPECIMENS.items() if word in words]
        if named:
            specimens.update(named)
        elif word not in _NOISE_WORDS:
            kept.append(word)
    return " ".join(kept), specimens


def _on_specimen(test: LabTest, specimens: set[str]) -> bool:
    return all(specimen in test.display for specimen in specimens)


def _code_words(key: str) -> tuple[str, ...]:
    """The short words with digits (b12, t4, a1c) and the % and # signs of a normalized name."""
    return tuple(
        sorted(
            w
            for w in key.split()
            if w in ("%", "#") or (len(w) <= 4 and any(c.isdigit() for c in w))
        )
    )


def _unit_fit(test: LabTest, unit: str | None) -> tuple[str, float]:
    if unit is not None:
        unit = test.reported_unit(unit)
    if unit is None or not test.units:
        return "unknown", 1.0
    if unit in test.units or any(_same_unit(unit, u) for u in test.units):
        return "listed", 1.0
    if any(ucum.commensurable(unit, u) for u in test.units):
        return "commensurable", 1.0 - COMMENSURABLE_PENALTY
    return "incompatible", INCOMPATIBLE_FACTOR


def _same_unit(a: str, b: str) -> bool:
    try:
        return ucum.canonical(a) == ucum.canonical(b)
    except ucum.UnitError:
        return False


def _capped(candidate: Candidate) -> Candidate:
    return Candidate(
        candidate.code,
        candidate.display,
        min(candidate.confidence, AMBIGUOUS),
        candidate.method + "+ambiguous",
        candidate.matched,
        candidate.unit_fit,
    )


def _distance(a: str, b: str, limit: int) -> int:
    """Edit distance with transpositions (optimal string alignment: "Cloor" is one edit from
    "Color" as from "Chloor"), or ``limit + 1`` once it must exceed ``limit``. Only the band of
    cells within ``limit`` of the diagonal is computed."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    over = limit + 1
    width = len(b)
    before: list[int] = []
    previous = [j if j <= limit else over for j in range(width + 1)]
    for i in range(1, len(a) + 1):
        ca = a[i - 1]
        current = [over] * (width + 1)
        if i <= limit:
            current[0] = i
        low, high = max(1, i - limit), min(width, i + limit)
        best = current[0]
        for j in range(low, high + 1):
            cb = b[j - 1]
            value = previous[j - 1] if ca == cb else previous[j - 1] + 1
            if previous[j] + 1 < value:
                value = previous[j] + 1
            if current[j - 1] + 1 < value:
                value = current[j - 1] + 1
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb and before[j - 2] + 1 < value:
                value = before[j - 2] + 1
            current[j] = value if value < over else over
            if value < best:
                best = value
        if best > limit:
            return over
        before, previous = previous, current
    return previous[width] if previous[width] <= limit else over


@cache
def default_matcher() -> LabMatcher:
    return LabMatcher(default_catalogue())


def match_lab_test(
    printed_name: str, printed_unit: str | None = None, limit: int = 5
) -> list[Candidate]:
    """LOINC candidates for a printed lab test name, best first. Use the first only if it is
    ``accepted``; otherwise ask a human."""
    return default_matcher().match(printed_name, printed_unit, limit)


def best_match(printed_name: str, printed_unit: str | None = None) -> Candidate | None:
    """The accepted candidate, or None (ask a human)."""
    found = match_lab_test(printed_name, printed_unit, limit=1)
    return found[0] if found and found[0].accepted else None
