"""Required-binding validation: codes outside their required value set are named, with the
element path and the value set."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_server.errors import Unprocessable
from terminology.bindings import binding_issues, check_bindings

GENDER_VS = "http://hl7.org/fhir/ValueSet/administrative-gender"


def patient(**fields: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "gender": "female", **fields}


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        (patient(), []),
        (patient(gender="mail"), [("Patient.gender", GENDER_VS)]),
        (
            patient(contact=[{"gender": "male"}, {"gender": "mael"}]),
            [("Patient.contact[1].gender", GENDER_VS)],
        ),
        (
            patient(telecom=[{"system": "phone", "use": "cell"}]),
            [("Patient.telecom[0].use", "http://hl7.org/fhir/ValueSet/contact-point-use")],
        ),
        (
            patient(identifier=[{"use": "usual", "value": "1"}, {"use": "primary", "value": "2"}]),
            [("Patient.identifier[1].use", "http://hl7.org/fhir/ValueSet/identifier-use")],
        ),
        (patient(text={"status": "generated", "div": "<div/>"}), []),
        (
            patient(text={"status": "made-up", "div": "<div/>"}),
            [("Patient.text.status", "http://hl7.org/fhir/ValueSet/narrative-status")],
        ),
        (
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": "x"},
                "valueQuantity": {"value": 1, "comparator": "<"},
            },
            [],
        ),
        (
            {"resourceType": "Observation", "status": "complete", "code": {"text": "x"}},
            [("Observation.status", "http://hl7.org/fhir/ValueSet/observation-status")],
        ),
        (
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": "x"},
                "valueQuantity": {"value": 1, "comparator": "=<"},
            },
            [
                (
                    "Observation.valueQuantity.comparator",
                    "http://hl7.org/fhir/ValueSet/quantity-comparator",
                )
            ],
        ),
        (
            {
                "resourceType": "DocumentReference",
                "status": "current",
                "docStatus": "final",
                "content": [{"attachment": {}}],
            },
            [],
        ),
        (
            {
                "resourceType": "DocumentReference",
                "status": "active",
                "content": [{"attachment": {}}],
            },
            [
                (
                    "DocumentReference.status",
                    "http://hl7.org/fhir/ValueSet/document-reference-status",
                )
            ],
        ),
        ({"resourceType": "Task", "status": "ready", "intent": "order"}, []),
        (
            {"resourceType": "Task", "status": "open", "intent": "order"},
            [("Task.status", "http://hl7.org/fhir/ValueSet/task-status")],
        ),
        # a type with no rules (not written by medrec) is not checked
        ({"resourceType": "Basic", "code": {"text": "x"}}, []),
    ],
)
def test_binding_issues(resource: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    issues = binding_issues(resource)
    assert [
        (i.expression[0], i.diagnostics.split(" is not in the value set ")[1].split(" ")[0])
        for i in issues
    ] == expected
    for issue in issues:
        assert issue.code == "code-invalid"


CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"


@pytest.mark.parametrize(
    ("codings", "ok"),
    [
        ([{"system": CLINICAL, "code": "active"}], True),
        (
            [
                {"system": "http://example.org/local", "code": "A"},
                {"system": CLINICAL, "code": "active"},
            ],
            True,
        ),
        ([{"system": CLINICAL, "code": "ongoing"}], False),
        ([{"code": "active"}], False),  # a coding without its system is not from the value set
        ([], True),  # text only: nothing coded to check
    ],
)
def test_codeable_concept_binding_wants_one_coding_from_the_value_set(
    codings: list[dict[str, str]], ok: bool
) -> None:
    condition = {
        "resourceType": "Condition",
        "subject": {"reference": "Patient/1"},
        "clinicalStatus": {"coding": codings, "text": "x"},
    }
    issues = binding_issues(condition)
    assert (issues == []) is ok
    if not ok:
        assert issues[0].expression == ("Condition.clinicalStatus",)


def test_check_bindings_raises_a_422_naming_element_and_value_set() -> None:
    with pytest.raises(Unprocessable) as caught:
        check_bindings(patient(gender="mail"))
    error = caught.value
    assert error.status == 422
    assert "Patient.gender" in error.message and GENDER_VS in error.message
    check_bindings(patient())  # no error
