"""The real fhirpy client searching a real `medrec serve`: modifiers, paging, counting,
includes and chains, end to end."""

from __future__ import annotations

import uuid

import pytest
from fhirpy import AsyncFHIRClient

pytestmark = pytest.mark.slow


async def test_fhirpy_search_with_modifiers_paging_and_includes(
    fhir_base: str, authorization: str
) -> None:
    client = AsyncFHIRClient(fhir_base, authorization=authorization)
    tag = uuid.uuid4().hex[:8]  # the module's server is shared: keep this test's data apart
    family = f"Zed{tag}"
    for n in range(25):
        await client.resource(
            "Patient",
            id=f"{tag}-{n:02d}",
            name=[{"family": f"{family}{'son' if n % 2 else ''}", "given": [f"G{n}"]}],
            gender="male" if n % 3 == 0 else "female",
        ).save()
    await client.resource(
        "Observation",
        id=f"{tag}-obs",
        status="final",
        code={"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
        subject={"reference": f"Patient/{tag}-03"},
    ).save()

    patients = client.resources("Patient")
    everyone = await patients.search(family=family.lower()).limit(7).fetch_all()  # 4 pages
    assert sorted(p.id for p in everyone) == [f"{tag}-{n:02d}" for n in range(25)]
    exact = await patients.search(**{"family:exact": family}).fetch_all()
    assert len(exact) == 13  # the even ones
    assert await patients.search(family=family, gender="male").count() == 9
    not_male = await patients.search(family=family, **{"gender:not": "male"}).count()
    assert not_male == 16

    observations = client.resources("Observation")
    chained = await observations.search(**{"subject:Patient.given": "g3"}).fetch_all()
    assert [o.id for o in chained] == [f"{tag}-obs"]
    bundle = (
        await observations.search(_id=f"{tag}-obs").include("Observation", "subject").fetch_raw()
    )
    modes = sorted((e.search.mode, e.resource.id) for e in bundle.entry)
    assert modes == [("include", f"{tag}-03"), ("match", f"{tag}-obs")]
    reverse = await patients.search(**{"_has:Observation:subject:code": "718-7"}).fetch_all()
    assert [p.id for p in reverse] == [f"{tag}-03"]
