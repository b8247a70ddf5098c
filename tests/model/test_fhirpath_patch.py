"""FHIRPath Patch: each operation, each value form, the path subset, and each error status."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from fhir_server.errors import FhirError
from fhir_server.model.fhirpath_patch import apply_fhirpath_patch

JsonObject = dict[str, Any]


def operation(kind: str, path: str, **parts: Any) -> JsonObject:
    """One ``operation`` parameter. ``value`` is ``{"valueX": ...}`` or ``{"part": [...]}``."""
    built: list[JsonObject] = [
        {"name": "type", "valueCode": kind},
        {"name": "path", "valueString": path},
    ]
    for name, value in parts.items():
        if name == "value":
            built.append({"name": "value", **value})
        elif name == "name":
            built.append({"name": "name", "valueString": value})
        else:
            built.append({"name": name, "valueInteger": value})
    return {"name": "operation", "part": built}


def patch(resource: JsonObject, *operations: JsonObject) -> JsonObject:
    return apply_fhirpath_patch(
        resource, {"resourceType": "Parameters", "parameter": list(operations)}
    )


def failure(resource: JsonObject, *operations: JsonObject) -> FhirError:
    with pytest.raises(FhirError) as caught:
        patch(resource, *operations)
    return caught.value


def patient() -> JsonObject:
    return {
        "resourceType": "Patient",
        "id": "p1",
        "identifier": [
            {"system": "http://mrn", "value": "123"},
            {"system": "http://ssn", "value": "999"},
        ],
        "name": [
            {"use": "official", "family": "Chalmers", "given": ["Peter", "James"]},
            {"use": "usual", "given": ["Jim"]},
        ],
        "gender": "male",
        "active": True,
        "extension": [{"url": "http://weight", "valueDecimal": Decimal("72.50")}],
    }


# --- add ----------------------------------------------------------------------------------------


def test_spec_example_add_birth_date() -> None:
    result = patch(
        patient(), operation("add", "Patient", name="birthDate", value={"valueDate": "1930-01-01"})
    )
    assert result["birthDate"] == "1930-01-01"


def test_spec_example_add_contact_from_nested_parts_creates_a_list() -> None:
    value = {
        "part": [
            {"name": "name", "valueHumanName": {"text": "a name"}},
            {"name": "telecom", "valueContactPoint": {"system": "phone", "value": "555"}},
        ]
    }
    result = patch(patient(), operation("add", "Patient", name="contact", value=value))
    assert result["contact"] == [
        {"name": {"text": "a name"}, "telecom": [{"system": "phone", "value": "555"}]}
    ]


def test_nested_parts_with_repeated_names_become_a_list() -> None:
    value = {
        "part": [
            {"name": "code", "valueCodeableConcept": {"text": "pulse"}},
            {"name": "interpretation", "valueCodeableConcept": {"text": "a"}},
            {"name": "interpretation", "valueCodeableConcept": {"text": "b"}},
        ]
    }
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    result = patch(observation, operation("add", "Observation", name="component", value=value))
    assert result["component"] == [
        {"code": {"text": "pulse"}, "interpretation": [{"text": "a"}, {"text": "b"}]}
    ]


def test_nested_parts_can_nest_further() -> None:
    value = {
        "part": [
            {"name": "relationship", "valueCodeableConcept": {"text": "sister"}},
            {"name": "period", "part": [{"name": "start", "valueDateTime": "2020-01-01"}]},
        ]
    }
    result = patch(patient(), operation("add", "Patient", name="contact", value=value))
    assert result["contact"][0]["period"] == {"start": "2020-01-01"}
    assert result["contact"][0]["relationship"] == [{"text": "sister"}]


def test_add_appends_a_complex_value_to_an_existing_list() -> None:
    value = {"valueHumanName": {"family": "Windsor", "given": ["Pete"]}}
    result = patch(patient(), operation("add", "Patient", name="name", value=value))
    assert len(result["name"]) == 3
    assert result["name"][-1] == {"family": "Windsor", "given": ["Pete"]}


def test_add_primitive_into_a_nested_list_keeps_extension_array_aligned() -> None:
    resource = patient()
    resource["name"][1]["_given"] = [{"extension": [{"url": "http://x", "valueCode": "a"}]}]
    result = patch(
        resource, operation("add", "Patient.name[1]", name="given", value={"valueString": "Jimmy"})
    )
    assert result["name"][1]["given"] == ["Jim", "Jimmy"]
    assert result["name"][1]["_given"][1] is None


def test_add_to_absent_repeating_element_creates_a_list() -> None:
    value = {"valueCoding": {"system": "http://tag", "code": "vip"}}
    result = patch(
        {"resourceType": "Patient"},
        operation("add", "Patient", name="identifier", value={"valueIdentifier": {"value": "1"}}),
        operation("add", "Patient", name="meta", value={"valueMeta": {}}),
        operation("add", "Patient.meta", name="tag", value=value),
    )
    assert result["identifier"] == [{"value": "1"}]
    assert result["meta"]["tag"] == [{"system": "http://tag", "code": "vip"}]


def test_add_to_an_existing_single_element_is_unprocessable() -> None:
    error = failure(
        patient(), operation("add", "Patient", name="gender", value={"valueCode": "female"})
    )
    assert error.status == 422
    assert "gender" in error.message


def test_add_path_matching_several_elements_is_unprocessable() -> None:
    error = failure(
        patient(), operation("add", "Patient.name", name="text", value={"valueString": "x"})
    )
    assert error.status == 422
    assert "exactly one" in error.message


# --- insert -------------------------------------------------------------------------------------


def test_insert_at_index() -> None:
    value = {"valueIdentifier": {"system": "http://new", "value": "7"}}
    result = patch(patient(), operation("insert", "Patient.identifier", index=1, value=value))
    assert [item["system"] for item in result["identifier"]] == [
        "http://mrn",
        "http://new",
        "http://ssn",
    ]


def test_insert_at_end_and_into_an_absent_list() -> None:
    resource = patient()
    result = patch(
        resource,
        operation("insert", "Patient.name[0].given", index=2, value={"valueString": "Jr"}),
        operation(
            "insert", "Patient.telecom", index=0, value={"valueContactPoint": {"value": "1"}}
        ),
    )
    assert result["name"][0]["given"] == ["Peter", "James", "Jr"]
    assert result["telecom"] == [{"value": "1"}]


def test_insert_beyond_the_end_is_unprocessable() -> None:
    error = failure(
        patient(), operation("insert", "Patient.identifier", index=3, value={"valueIdentifier": {}})
    )
    assert error.status == 422
    assert "index 3" in error.message


def test_insert_into_a_single_element_is_unprocessable() -> None:
    error = failure(
        patient(), operation("insert", "Patient.gender", index=0, value={"valueCode": "x"})
    )
    assert error.status == 422


# --- delete -------------------------------------------------------------------------------------


def test_delete_a_single_element() -> None:
    result = patch(patient(), operation("delete", "Patient.gender"))
    assert "gender" not in result
    assert result["active"] is True


def test_delete_a_list_item_selected_by_where() -> None:
    result = patch(patient(), operation("delete", "Patient.identifier.where(system='http://ssn')"))
    assert result["identifier"] == [{"system": "http://mrn", "value": "123"}]


def test_delete_the_last_item_removes_the_empty_list_and_its_extensions() -> None:
    resource = patient()
    resource["name"][1]["_given"] = [{"id": "g"}]
    result = patch(resource, operation("delete", "Patient.name[1].given[0]"))
    assert "given" not in result["name"][1]
    assert "_given" not in result["name"][1]


def test_delete_of_a_primitive_also_removes_its_extension_twin() -> None:
    resource = patient() | {"birthDate": "1970", "_birthDate": {"id": "b"}}
    result = patch(resource, operation("delete", "Patient.birthDate"))
    assert "birthDate" not in result and "_birthDate" not in result


def test_delete_matching_nothing_is_not_an_error() -> None:
    resource = patient()
    result = patch(resource, operation("delete", "Patient.identifier.where(system='http://none')"))
    assert result == resource


def test_delete_matching_several_elements_is_unprocessable() -> None:
    error = failure(patient(), operation("delete", "Patient.identifier"))
    assert error.status == 422
    assert "single" in error.message


def test_delete_of_the_resource_itself_is_unprocessable() -> None:
    assert failure(patient(), operation("delete", "Patient")).status == 422


# --- replace ------------------------------------------------------------------------------------


def test_replace_a_primitive() -> None:
    result = patch(patient(), operation("replace", "Patient.gender", value={"valueCode": "female"}))
    assert result["gender"] == "female"


def test_replace_a_decimal_keeps_its_precision() -> None:
    resource = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "temp"},
        "valueQuantity": {"value": Decimal("1.0"), "unit": "F"},
    }
    value = {"valueDecimal": Decimal("98.60")}
    result = patch(resource, operation("replace", "Observation.valueQuantity.value", value=value))
    assert isinstance(result["valueQuantity"]["value"], Decimal)
    assert str(result["valueQuantity"]["value"]) == "98.60"
    assert result["valueQuantity"]["unit"] == "F"


def test_replace_a_boolean_and_add_an_integer() -> None:
    result = patch(
        patient(),
        operation("replace", "Patient.active", value={"valueBoolean": False}),
        operation("add", "Patient", name="multipleBirthInteger", value={"valueInteger": 2}),
    )
    assert result["active"] is False
    assert result["multipleBirthInteger"] == 2


def test_replace_a_complex_list_item_with_value_human_name() -> None:
    value = {"valueHumanName": {"use": "nickname", "given": ["Jimbo"]}}
    result = patch(patient(), operation("replace", "Patient.name.where(use='usual')", value=value))
    assert result["name"][1] == {"use": "nickname", "given": ["Jimbo"]}
    assert result["name"][0]["family"] == "Chalmers"


def test_replace_with_nested_parts() -> None:
    value = {
        "part": [
            {"name": "family", "valueString": "Smith"},
            {"name": "given", "valueString": "Ann"},
        ]
    }
    result = patch(patient(), operation("replace", "Patient.name[0]", value=value))
    assert result["name"][0] == {"family": "Smith", "given": ["Ann"]}


def test_replace_matching_nothing_is_unprocessable() -> None:
    error = failure(
        patient(), operation("replace", "Patient.birthDate", value={"valueDate": "2000"})
    )
    assert error.status == 422
    assert "Patient.birthDate" in error.message


def test_replace_matching_several_is_unprocessable() -> None:
    error = failure(
        patient(), operation("replace", "Patient.name.given", value={"valueString": "X"})
    )
    assert error.status == 422
    assert "not 3" in error.message


# --- move ---------------------------------------------------------------------------------------


def test_move_within_a_list() -> None:
    result = patch(patient(), operation("move", "Patient.name[0].given", source=1, destination=0))
    assert result["name"][0]["given"] == ["James", "Peter"]


def test_move_to_a_later_position() -> None:
    resource = {"resourceType": "Patient", "identifier": [{"value": v} for v in "abc"]}
    result = patch(resource, operation("move", "Patient.identifier", source=0, destination=2))
    assert [item["value"] for item in result["identifier"]] == ["b", "c", "a"]


def test_move_out_of_range_is_unprocessable() -> None:
    error = failure(patient(), operation("move", "Patient.identifier", source=0, destination=2))
    assert error.status == 422


# --- paths --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("Patient.name[1].given[0]", ("name", 1, "given", 0)),
        ("Patient.name.first().family", ("name", 0, "family")),
        ("Patient.name.last().given.first()", ("name", 1, "given", 0)),
        ("Patient.name.given[2]", ("name", 1, "given", 0)),  # [n] indexes the whole collection
        ("Patient.name.where(use = 'official').given.last()", ("name", 0, "given", 1)),
        ("Patient.name.where(given='Jim').use", ("name", 1, "use")),
        ("Patient.name.given.where($this='James')", ("name", 0, "given", 1)),
        ("Patient.identifier.where(system='http://ssn').value", ("identifier", 1, "value")),
        ("Patient.extension.where(valueDecimal = 72.5).url", ("extension", 0, "url")),
        ("Patient.identifier.where(value=123).system", None),  # a number never equals a string
        ("name.where(use='usual').given", ("name", 1, "given", 0)),
        ("%resource.gender", ("gender",)),
    ],
)
def test_paths_select_exactly_the_expected_element(
    path: str, location: tuple[str | int, ...] | None
) -> None:
    operations = [operation("replace", path, value={"valueString": "CHANGED"})]
    if location is None:
        assert failure(patient(), *operations).status == 422
        return
    expected = patient()
    node: Any = expected
    for key in location[:-1]:
        node = node[key]
    node[location[-1]] = "CHANGED"
    assert patch(patient(), *operations) == expected


def test_where_with_nested_element_path_and_boolean_literal() -> None:
    resource = {
        "resourceType": "Patient",
        "contact": [
            {"name": {"family": "A"}, "telecom": [{"value": "1"}]},
            {"name": {"family": "B"}, "telecom": [{"value": "2"}]},
        ],
        "communication": [
            {"language": {"text": "en"}, "preferred": False},
            {"language": {"text": "fr"}, "preferred": True},
        ],
    }
    result = patch(
        resource,
        operation("delete", "Patient.contact.where(name.family='B')"),
        operation("delete", "Patient.communication.where(preferred=true)"),
    )
    assert result["contact"] == [{"name": {"family": "A"}, "telecom": [{"value": "1"}]}]
    assert result["communication"] == [{"language": {"text": "en"}, "preferred": False}]


def test_where_string_literal_does_not_match_a_boolean_or_number() -> None:
    resource = {"resourceType": "Patient", "communication": [{"preferred": True, "language": {}}]}
    result = patch(resource, operation("delete", "Patient.communication.where(preferred='true')"))
    assert result == resource


def test_where_literal_with_escaped_quote() -> None:
    resource = {"resourceType": "Patient", "name": [{"family": "O'Brien"}, {"family": "Obrien"}]}
    result = patch(resource, operation("delete", r"Patient.name.where(family='O\'Brien')"))
    assert result["name"] == [{"family": "Obrien"}]


@pytest.mark.parametrize(
    "path",
    [
        "Patient.name.exists()",
        "Patient.name.where(use != 'usual')",
        "Patient.name.where(use = 'usual' and family = 'x')",
        "Patient.name[-1]",
        "Patient.name.resolve()",
        "Patient.name | Patient.telecom",
        "Patient..name",
        "$this.name",
    ],
)
def test_unsupported_expressions_are_invalid_and_named(path: str) -> None:
    error = failure(patient(), operation("delete", path))
    assert error.status == 400
    assert "unsupported" in error.message


def test_path_naming_another_resource_type_is_unprocessable() -> None:
    error = failure(patient(), operation("delete", "Observation.status"))
    assert error.status == 422
    assert "Observation" in error.message


# --- decimals and atomicity ---------------------------------------------------------------------


def test_decimals_elsewhere_are_preserved() -> None:
    result = patch(patient(), operation("replace", "Patient.gender", value={"valueCode": "other"}))
    weight = result["extension"][0]["valueDecimal"]
    assert isinstance(weight, Decimal)
    assert str(weight) == "72.50"


def test_input_is_not_mutated_and_values_are_not_aliased() -> None:
    resource = patient()
    value_part = {"valueHumanName": {"family": "New"}}
    result = patch(resource, operation("add", "Patient", name="name", value=value_part))
    result["name"][-1]["family"] = "Mutated"
    assert resource == patient()
    assert value_part == {"valueHumanName": {"family": "New"}}


def test_operations_apply_in_order() -> None:
    result = patch(
        patient(),
        operation("add", "Patient", name="birthDate", value={"valueDate": "1930-01-01"}),
        operation("replace", "Patient.birthDate", value={"valueDate": "1931-02-02"}),
    )
    assert result["birthDate"] == "1931-02-02"


# --- malformed Parameters -----------------------------------------------------------------------


def test_body_that_is_not_parameters_is_invalid() -> None:
    with pytest.raises(FhirError) as caught:
        apply_fhirpath_patch(patient(), {"resourceType": "Patient"})
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        ({"name": "operation", "part": [{"name": "path", "valueString": "Patient"}]}, "'type'"),
        ({"name": "operation", "part": [{"name": "type", "valueCode": "delete"}]}, "'path'"),
        (operation("upsert", "Patient"), "unknown operation type 'upsert'"),
        (operation("add", "Patient", value={"valueString": "x"}), "'name'"),
        (operation("replace", "Patient.gender"), "'value'"),
        (operation("insert", "Patient.identifier", value={"valueIdentifier": {}}), "'index'"),
        (
            operation("insert", "Patient.identifier", index=-1, value={"valueIdentifier": {}}),
            "non-negative",
        ),
        (operation("move", "Patient.identifier", source=0), "'destination'"),
        ({"name": "op", "part": []}, "'operation'"),
        (operation("replace", "Patient.gender", value={"part": []}), "neither"),
        (operation("add", "Patient", name="a.b", value={"valueString": "x"}), "element name"),
    ],
)
def test_malformed_operations_are_invalid(bad: JsonObject, needle: str) -> None:
    error = failure(patient(), operation("delete", "Patient.gender"), bad)
    assert error.status == 400
    assert needle in error.message
    assert "operation 2" in error.message


def test_bad_index_type_is_invalid() -> None:
    bad = operation("insert", "Patient.identifier", value={"valueIdentifier": {}})
    bad["part"].append({"name": "index", "valueString": "1"})
    error = failure(patient(), bad)
    assert error.status == 400
    assert "operation 1" in error.message
