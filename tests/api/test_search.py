"""Type-level search over HTTP: parameters of each type, AND/OR, :missing, paging, strictness."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import patient


async def put(client: httpx.AsyncClient, resource: dict[str, Any]) -> None:
    response = await client.put(f"{resource['resourceType']}/{resource['id']}", json=resource)
    assert response.status_code in (200, 201), response.text


async def ids(client: httpx.AsyncClient, url: str, **params: Any) -> list[str]:
    response = await client.get(url, params=params)
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["type"] == "searchset"
    return sorted(e["resource"]["id"] for e in bundle.get("entry", []))


@pytest.fixture
async def people(client: httpx.AsyncClient) -> None:
    await put(client, patient(id="p1", name=[{"family": "Müller", "given": ["Anna"]}],
                              birthDate="1970-05-01", gender="female",
                              identifier=[{"system": "urn:mrn", "value": "A1"}]))  # fmt: skip
    await put(client, patient(id="p2", name=[{"family": "Muller", "given": ["Bob"]}],
                              birthDate="1985", gender="male",
                              identifier=[{"system": "urn:mrn", "value": "B2"}]))  # fmt: skip
    await put(
        client,
        {
            "resourceType": "Patient",
            "id": "p3",
            "gender": "male",
            "active": False,
            "name": [{"family": "Okafor", "given": ["Chidi"]}],
        },
    )  # no birthDate
    for oid, subject, value, code in (
        ("o1", "p1", 6.5, "4548-4"),
        ("o2", "p1", 112, "2345-7"),
        ("o3", "p2", 5.2, "4548-4"),
    ):
        await put(client, {
            "resourceType": "Observation", "id": oid, "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "subject": {"reference": f"Patient/{subject}"},
            "effectiveDateTime": "2026-03-0" + oid[1] + "T10:00:00Z",
            "valueQuantity": {"value": value, "unit": "%", "system": "http://unitsofmeasure.org",
                              "code": "%"},
        })  # fmt: skip


@pytest.mark.usefixtures("people")
async def test_string_is_prefix_case_and_accent_insensitive(client: httpx.AsyncClient) -> None:
    assert await ids(client, "Patient", family="mul") == ["p1", "p2"]
    assert await ids(client, "Patient", name="ANNA") == ["p1"]
    assert await ids(client, "Patient", **{"family:exact": "Müller"}) == ["p1"]
    assert await ids(client, "Patient", **{"family:contains": "kaf"}) == ["p3"]


@pytest.mark.usefixtures("people")
async def test_token_forms(client: httpx.AsyncClient) -> None:
    assert await ids(client, "Patient", gender="male") == ["p2", "p3"]
    assert await ids(client, "Patient", identifier="urn:mrn|A1") == ["p1"]
    assert await ids(client, "Patient", identifier="B2") == ["p2"]
    assert await ids(client, "Patient", **{"gender:not": "male"}) == ["p1"]
    assert await ids(client, "Observation", code="http://loinc.org|4548-4") == ["o1", "o3"]
    assert await ids(client, "Patient", active="false") == ["p3"]


@pytest.mark.usefixtures("people")
async def test_or_and_and(client: httpx.AsyncClient) -> None:
    assert await ids(client, "Patient", gender="female,male") == ["p1", "p2", "p3"]
    response = await client.get("Patient?gender=male&family=mul")
    assert sorted(e["resource"]["id"] for e in response.json()["entry"]) == ["p2"]


@pytest.mark.usefixtures("people")
async def test_dates_and_missing(client: httpx.AsyncClient) -> None:
    assert await ids(client, "Patient", birthdate="1970") == ["p1"]
    assert await ids(client, "Patient", birthdate="ge1980-01-01") == ["p2"]
    assert await ids(client, "Patient", birthdate="lt1980") == ["p1"]
    assert await ids(client, "Patient", **{"birthdate:missing": "true"}) == ["p3"]
    assert await ids(client, "Observation", date="2026-03-02") == ["o2"]
    assert await ids(client, "Patient", _lastUpdated="gt2000-01-01") == ["p1", "p2", "p3"]


@pytest.mark.usefixtures("people")
async def test_reference_number_quantity_and_id(client: httpx.AsyncClient) -> None:
    assert await ids(client, "Observation", subject="Patient/p1") == ["o1", "o2"]
    assert await ids(client, "Observation", subject="p2") == ["o3"]
    assert await ids(client, "Observation", **{"subject:Patient": "p2"}) == ["o3"]
    assert await ids(client, "Observation", **{"value-quantity": "gt6"}) == ["o1", "o2"]
    assert await ids(
        client, "Observation", **{"value-quantity": "lt100|http://unitsofmeasure.org|%"}
    ) == ["o1", "o3"]
    assert await ids(client, "Patient", _id="p1,p3") == ["p1", "p3"]


@pytest.mark.usefixtures("people")
async def test_unknown_params_are_ignored_unless_strict(client: httpx.AsyncClient) -> None:
    response = await client.get("Patient", params={"gender": "male", "shoe-size": "44"})
    assert response.status_code == 200
    self_link = next(link["url"] for link in response.json()["link"] if link["relation"] == "self")
    assert "gender=male" in self_link and "shoe-size" not in self_link
    strict = await client.get(
        "Patient", params={"shoe-size": "44"}, headers={"Prefer": "handling=strict"}
    )
    assert strict.status_code == 400
    assert strict.json()["resourceType"] == "OperationOutcome"


@pytest.mark.usefixtures("people")
@pytest.mark.parametrize(
    "params",
    [
        {"birthdate": "2020-13-45"},
        {"birthdate": "xx2020"},
        {"_count": "-1"},
        {"_sort": "shoe-size"},
        {"_cursor": "not-a-cursor"},
        {"gender:bogus": "male"},
    ],
)
async def test_malformed_values_are_400(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    response = await client.get("Patient", params=params)
    assert response.status_code == 400, response.text
    assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.usefixtures("people")
async def test_operator_smuggling_is_a_plain_value(client: httpx.AsyncClient) -> None:
    for value in ('{"$gt": ""}', "$where", "[$ne]"):
        assert await ids(client, "Patient", family=value) == []
        assert await ids(client, "Patient", gender=value) == []


@pytest.mark.usefixtures("people")
async def test_post_search_with_form_body(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "Patient/_search",
        content=b"family=mul&gender=male",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200, response.text
    assert [e["resource"]["id"] for e in response.json()["entry"]] == ["p2"]


async def test_paging_is_stable_under_concurrent_writes(client: httpx.AsyncClient) -> None:
    for n in range(10):
        await put(client, patient(id=f"pg{n:02d}"))
    seen: list[str] = []
    url: str | None = "Patient?_count=3"
    pages = 0
    while url:
        bundle = (await client.get(url)).json()
        seen += [e["resource"]["id"] for e in bundle["entry"]]
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url = nxt[0] if nxt else None
        # Writes between pages: an update of a seen resource, a new one sorting before the
        # cursor, and one after it. None may cause a duplicate or a skip of the original ten.
        await put(client, patient(id="pg00", gender="other"))
        await put(client, patient(id=f"aa{pages}"))
        pages += 1
    originals = [s for s in seen if s.startswith("pg")]
    assert originals == [f"pg{n:02d}" for n in range(10)]
    assert len(seen) == len(set(seen))


async def test_sort_by_last_updated_descending(client: httpx.AsyncClient) -> None:
    for n in range(3):
        await put(client, patient(id=f"s{n}"))
    bundle = (await client.get("Patient", params={"_sort": "-_lastUpdated"})).json()
    assert [e["resource"]["id"] for e in bundle["entry"]] == ["s2", "s1", "s0"]


async def test_deleted_resources_are_not_found(client: httpx.AsyncClient) -> None:
    await put(client, patient(id="gone", gender="male"))
    await client.delete("Patient/gone")
    assert await ids(client, "Patient", gender="male") == []


async def bundle_of(client: httpx.AsyncClient, url: str, **params: Any) -> dict[str, Any]:
    response = await client.get(url, params=params)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def by_mode(bundle: dict[str, Any], mode: str) -> list[str]:
    return sorted(
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle.get("entry", [])
        if e["search"]["mode"] == mode
    )


@pytest.mark.usefixtures("people")
async def test_chained_parameters(client: httpx.AsyncClient) -> None:
    assert await ids(client, "Observation", **{"subject:Patient.family": "okafor"}) == []
    assert await ids(client, "Observation", **{"subject:Patient.family": "müller"}) == [
        "o1",
        "o2",
        "o3",
    ]
    assert await ids(client, "Observation", **{"subject.name": "anna"}) == ["o1", "o2"]
    assert await ids(client, "Observation", **{"patient.identifier": "urn:mrn|B2"}) == ["o3"]
    # Two levels: Observation -> Patient -> Organization
    await put(client, {"resourceType": "Organization", "id": "org1", "name": "ABC Medical"})
    await put(client, patient(id="p1", name=[{"family": "Müller", "given": ["Anna"]}],
                              managingOrganization={"reference": "Organization/org1"}))  # fmt: skip
    assert await ids(client, "Observation", **{"subject:Patient.organization.name": "abc"}) == [
        "o1",
        "o2",
    ]
    unknown = await client.get(
        "Observation",
        params={"subject:Patient.shoe-size": "1"},
        headers={"Prefer": "handling=strict"},
    )
    assert unknown.status_code == 400


@pytest.mark.usefixtures("people")
async def test_reverse_chaining_has(client: httpx.AsyncClient) -> None:
    code = "http://loinc.org|2345-7"
    assert await ids(client, "Patient", **{"_has:Observation:subject:code": code}) == ["p1"]
    assert await ids(client, "Patient", **{"_has:Observation:subject:code": "4548-4"}) == [
        "p1",
        "p2",
    ]
    # Nested: patients with an observation that is cited by a DiagnosticReport result.
    report = {"resourceType": "DiagnosticReport", "id": "dr1", "status": "final",
              "code": {"text": "panel"}, "result": [{"reference": "Observation/o3"}]}  # fmt: skip
    await put(client, report)
    nested = "_has:Observation:subject:_has:DiagnosticReport:result:status"
    assert await ids(client, "Patient", **{nested: "final"}) == ["p2"]
    bad = await client.get("Patient", params={"_has:Observation:code:status": "final"})
    assert bad.status_code == 400  # code is not a reference parameter


@pytest.mark.usefixtures("people")
async def test_include_and_revinclude(client: httpx.AsyncClient) -> None:
    bundle = await bundle_of(client, "Observation", code="2345-7", _include="Observation:subject")
    assert by_mode(bundle, "match") == ["Observation/o2"]
    assert by_mode(bundle, "include") == ["Patient/p1"]
    bundle = await bundle_of(client, "Patient", _id="p1,p2", _revinclude="Observation:subject")
    assert by_mode(bundle, "match") == ["Patient/p1", "Patient/p2"]
    assert by_mode(bundle, "include") == ["Observation/o1", "Observation/o2", "Observation/o3"]
    typed = await bundle_of(client, "Observation", _id="o1", _include="Observation:subject:Group")
    assert by_mode(typed, "include") == []


@pytest.mark.usefixtures("people")
async def test_include_and_revinclude_wildcards(client: httpx.AsyncClient, app: Any) -> None:
    await put(client, {"resourceType": "Organization", "id": "org1", "name": "ABC"})
    await put(client, patient(id="p1", managingOrganization={"reference": "Organization/org1"}))
    # subject and patient both name p1: included once
    for value in ("*", "Observation:*"):
        bundle = await bundle_of(client, "Observation", _id="o1", _include=value)
        assert by_mode(bundle, "include") == ["Patient/p1"]
    bundle = await bundle_of(client, "Patient", _id="p1", _include="*")
    assert by_mode(bundle, "include") == ["Organization/org1"]
    bundle = await bundle_of(client, "Patient", _id="p1", _revinclude="Observation:*")
    assert by_mode(bundle, "include") == ["Observation/o1", "Observation/o2"]
    bundle = await bundle_of(client, "Patient", _id="p1", _revinclude="*")
    # o1, o2 refer to p1 as subject (and patient); nothing else was stored
    assert by_mode(bundle, "include") == ["Observation/o1", "Observation/o2"]
    self_link = next(x["url"] for x in bundle["link"] if x["relation"] == "self")
    assert "_revinclude=%2A" in self_link and self_link.count("_revinclude") == 1
    stored = await app.state.services.repository.stored_types()
    assert "Encounter" not in stored  # _revinclude=* did not create collections


@pytest.mark.usefixtures("people")
async def test_patient_compartment_search(client: httpx.AsyncClient) -> None:
    assert await ids(client, "Patient/p1/Observation") == ["o1", "o2"]
    assert await ids(client, "Patient/p1/Observation", code="4548-4") == ["o1"]
    assert await ids(client, "Patient/p2/Patient") == ["p2"]
    assert (await client.get("Encounter/e1/Observation")).status_code == 404


@pytest.mark.usefixtures("people")
async def test_total_summary_and_elements(client: httpx.AsyncClient) -> None:
    bundle = await bundle_of(client, "Patient", gender="male", _total="accurate", _count="1")
    assert bundle["total"] == 2
    assert len(bundle["entry"]) == 1
    assert "total" not in await bundle_of(client, "Patient", gender="male")
    counted = await bundle_of(client, "Patient", _summary="count")
    assert counted["total"] == 3
    assert counted["entry"] == []
    subset = await bundle_of(client, "Patient", _id="p1", _elements="gender,birthDate")
    resource = subset["entry"][0]["resource"]
    assert set(resource) == {"resourceType", "id", "meta", "gender", "birthDate"}
    assert resource["meta"]["tag"][-1]["code"] == "SUBSETTED"


@pytest.mark.usefixtures("people")
async def test_explain_returns_the_query_and_plan(client: httpx.AsyncClient) -> None:
    response = await client.get("Patient", params={"family": "mul", "_explain": "true"})
    assert response.status_code == 200, response.text
    parts = {p["name"]: p["valueString"] for p in response.json()["parameter"]}
    assert parts["filter"].startswith('{"idx.family.n"')  # led by the indexed field
    assert parts["index"] == "idx.family.n"
    assert '"stage"' in parts["plan"]


async def test_explain_of_a_date_range_shows_each_query_and_its_index(
    client: httpx.AsyncClient,
) -> None:
    params = [("date", "ge2024-01-01"), ("date", "lt2024-02-01"), ("_explain", "true")]
    response = await client.get("Observation", params=params)
    assert response.status_code == 200, response.text
    parameters = response.json()["parameter"]
    indexes = [p["valueString"] for p in parameters if p["name"] == "index"]
    # resources with one narrow date; then those marked wide, once per alternative of ge
    assert indexes == ["idx.date.lo"] * 3
    filters = [p["valueString"] for p in parameters if p["name"] == "filter"]
    assert '"$gte": "2024-01-01 00:00:00+00:00", "$lt": "2024-02-01 00:00:00+00:00"' in filters[0]
    assert all(f.startswith('{"idx.date.lo": "wide"') for f in filters[1:])


@pytest.mark.usefixtures("people")
async def test_include_iterate(client: httpx.AsyncClient) -> None:
    await put(client, {"resourceType": "Organization", "id": "org1", "name": "ABC Medical"})
    await put(client, patient(id="p1", name=[{"family": "Müller", "given": ["Anna"]}],
                              managingOrganization={"reference": "Organization/org1"}))  # fmt: skip
    params = [
        ("_id", "o1"),
        ("_include", "Observation:subject"),
        ("_include:iterate", "Patient:organization"),
    ]
    bundle = (await client.get("Observation", params=params)).json()
    assert by_mode(bundle, "include") == ["Organization/org1", "Patient/p1"]
    without = await bundle_of(client, "Observation", _id="o1", _include="Observation:subject")
    assert by_mode(without, "include") == ["Patient/p1"]
    report = {"resourceType": "DiagnosticReport", "id": "dr2", "status": "final",
              "code": {"text": "panel"}, "result": [{"reference": "Observation/o2"}]}  # fmt: skip
    await put(client, report)
    params = [
        ("_id", "p1"),
        ("_revinclude", "Observation:subject"),
        ("_revinclude:iterate", "DiagnosticReport:result"),
    ]
    bundle = (await client.get("Patient", params=params)).json()
    assert by_mode(bundle, "include") == [
        "DiagnosticReport/dr2",
        "Observation/o1",
        "Observation/o2",
    ]
