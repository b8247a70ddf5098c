"""Terminology: the codes medrec speaks (bundled CodeSystems, ValueSets, ConceptMaps), the FHIR
terminology operations, required-binding validation, UCUM units and the lab test name matcher.

The public surface other packages use::

    from terminology import TerminologyService, default_service, match_lab_test

    service = default_service()                       # bundled content
    service.validate_code(vs_url, system, code)       # -> ValidationResult
    service.value_set_codes(vs_url)                   # token :in / :not-in
    service.descendants(system, code)                 # token :below (ancestors: :above)
    service.translate(colour_system, "red")           # colour -> record category
    match_lab_test("Hemog1obin", "g/dL")              # -> [Candidate(...)], best first

See docs/terminology.md.
"""

from terminology import ucum
from terminology.lab_matcher import ACCEPT, Candidate, best_match, match_lab_test
from terminology.service import TerminologyService, default_service

__all__ = [
    "ACCEPT",
    "Candidate",
    "TerminologyService",
    "best_match",
    "default_service",
    "match_lab_test",
    "ucum",
]
