"""Small builders shared by the tests."""

from __future__ import annotations

import httpx

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


async def follow_pages(client: httpx.AsyncClient, url: str, **params: str) -> list[str]:
    """``Type/id`` of every entry of a searchset and all its ``next`` pages, in order."""
    out: list[str] = []
    response = await client.get(url, params=params)
    while True:
        assert response.status_code == 200, response.text
        bundle = response.json()
        assert bundle["type"] == "searchset"
        out += [f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]]
        following = next((x["url"] for x in bundle["link"] if x["relation"] == "next"), None)
        if following is None:
            return out
        response = await client.get(following)
