"""``_sort`` on any sortable parameter over HTTP: ascending by the lowest value, descending by
the highest, missing values first ascending and last descending, several keys, and keyset
paging through ties and missing values without duplicates or gaps."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.test_search import put

# id -> (family names, birthDate or None, Observation effective)
PEOPLE: dict[str, tuple[list[str], str | None]] = {
    "a": (["Berg"], "1970-05-01"),
    "b": (["Aalders", "Zijlstra"], "1985"),  # two names: lowest "aalders", highest "zijlstra"
    "c": (["Mertens"], None),
    "d": (["Berg"], "1970-05-01"),  # ties with a on both keys
    "e": (["Berg"], "1960-01-01"),
    "f": ([], "2001-02-03"),  # no name
    "g": (["Claes"], None),
}


@pytest.fixture
async def people(client: httpx.AsyncClient) -> None:
    for pid, (families, born) in PEOPLE.items():
        resource: dict[str, Any] = {"resourceType": "Patient", "id": pid}
        if families:
            resource["name"] = [{"family": family} for family in families]
        if born:
            resource["birthDate"] = born
        await put(client, resource)


async def order(client: httpx.AsyncClient, rtype: str, count: int = 50, **params: str) -> list[str]:
    """The ids of every page, following next links."""
    out: list[str] = []
    response = await client.get(rtype, params={**params, "_count": str(count)})
    while True:
        assert response.status_code == 200, response.text
        bundle = response.json()
        out += [entry["resource"]["id"] for entry in bundle.get("entry", [])]
        following = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not following:
            return out
        response = await client.get(following[0])


@pytest.mark.usefixtures("people")
@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        # missing first ascending; ties by id
        ("birthdate", ["c", "g", "e", "a", "d", "b", "f"]),
        ("-birthdate", ["f", "b", "a", "d", "e", "c", "g"]),
        # b sorts by "aalders" ascending and by "zijlstra" descending
        ("family", ["f", "b", "a", "d", "e", "g", "c"]),
        ("-family", ["b", "c", "g", "a", "d", "e", "f"]),
        ("family,-birthdate", ["f", "b", "a", "d", "e", "g", "c"]),
        ("family,birthdate", ["f", "b", "e", "a", "d", "g", "c"]),
        ("-family,-_id", ["b", "c", "g", "e", "d", "a", "f"]),
    ],
)
@pytest.mark.parametrize("count", [50, 2, 1])
async def test_sort_and_page(
    client: httpx.AsyncClient, sort: str, expected: list[str], count: int
) -> None:
    assert await order(client, "Patient", count, _sort=sort) == expected


@pytest.mark.usefixtures("people")
async def test_sort_with_a_search(client: httpx.AsyncClient) -> None:
    assert await order(client, "Patient", 2, _sort="-birthdate", family="berg") == ["a", "d", "e"]


async def test_sort_by_date_uses_the_low_end_ascending_and_the_high_end_descending(
    client: httpx.AsyncClient,
) -> None:
    periods = {
        "long": {"start": "2020-01-01", "end": "2020-12-31"},
        "mid": {"start": "2020-03-01", "end": "2020-03-02"},
    }
    for oid, period in periods.items():
        await put(client, {"resourceType": "Observation", "id": oid, "status": "final",
                           "code": {"text": "x"}, "effectivePeriod": period})  # fmt: skip
    point = {"resourceType": "Observation", "id": "point", "status": "final",
             "code": {"text": "x"}, "effectiveDateTime": "2020-06-01T00:00:00Z"}  # fmt: skip
    await put(client, point)
    assert await order(client, "Observation", _sort="date") == ["long", "mid", "point"]
    assert await order(client, "Observation", _sort="-date") == ["long", "point", "mid"]


@pytest.mark.usefixtures("people")
async def test_sort_survives_updates_between_pages(client: httpx.AsyncClient) -> None:
    first = (await client.get("Patient", params={"_sort": "birthdate", "_count": "3"})).json()
    assert [e["resource"]["id"] for e in first["entry"]] == ["c", "g", "e"]
    await put(client, {"resourceType": "Patient", "id": "h", "birthDate": "1950-01-01"})
    following = next(link["url"] for link in first["link"] if link["relation"] == "next")
    rest = await order_from(client, following)
    # h sorts before the cursor: not shown again, and nothing after the cursor is skipped
    assert rest == ["a", "d", "b", "f"]


async def order_from(client: httpx.AsyncClient, url: str) -> list[str]:
    out: list[str] = []
    next_url: str | None = url
    while next_url:
        bundle = (await client.get(next_url)).json()
        out += [entry["resource"]["id"] for entry in bundle.get("entry", [])]
        next_url = next((x["url"] for x in bundle["link"] if x["relation"] == "next"), None)
    return out


@pytest.mark.parametrize("sort", ["code-value-quantity", "_text", "name,name", "a,b,c,d"])
async def test_unsortable_is_400(client: httpx.AsyncClient, sort: str) -> None:
    response = await client.get("Observation", params={"_sort": sort})
    assert response.status_code == 400, response.text
    assert response.json()["resourceType"] == "OperationOutcome"


def _link(bundle: dict[str, Any], relation: str) -> str | None:
    return next((x["url"] for x in bundle["link"] if x["relation"] == relation), None)


@pytest.mark.usefixtures("people")
@pytest.mark.parametrize("sort", ["birthdate", "-family", "_id"])
async def test_previous_links_walk_back_to_the_first_page(
    client: httpx.AsyncClient, sort: str
) -> None:
    pages: list[list[str]] = []
    bundle = (await client.get("Patient", params={"_sort": sort, "_count": "2"})).json()
    assert _link(bundle, "previous") is None  # the first page has none
    while True:
        pages.append([e["resource"]["id"] for e in bundle.get("entry", [])])
        following = _link(bundle, "next")
        if following is None:
            break
        bundle = (await client.get(following)).json()
    back: list[list[str]] = []
    while (previous := _link(bundle, "previous")) is not None:
        bundle = (await client.get(previous)).json()
        back.append([e["resource"]["id"] for e in bundle.get("entry", [])])
        # and forward again from a page read backwards
        following = _link(bundle, "next")
        assert following is not None
        forward = (await client.get(following)).json()
        assert [e["resource"]["id"] for e in forward["entry"]] == pages[len(pages) - len(back)]
    assert back == pages[-2::-1]
