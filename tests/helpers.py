"""Small builders shared by the tests."""

from __future__ import annotations

FHIR_JSON = "application/fhir+json"


def patient(**fields: object) -> dict[str, object]:
    body: dict[str, object] = {
        "resourceType": "Patient",
        "name": [{"family": "Doe", "given": ["Jane"]}],
        "gender": "female",
        "birthDate": "1980-02-29",
    }
    body.update(fields)
    return body
