"""A scratch collection of documents indexed by one index type, shared by these tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

from pymongo import MongoClient
from pymongo.collection import Collection


def indexed_docs(
    values: dict[str, list[Any] | None], index: Callable[[list[Any]], list[Any]]
) -> list[dict[str, Any]]:
    """One document per key, with ``idx.p`` holding ``index(values)`` (absent when empty)."""
    docs = []
    for key, raw in values.items():
        entries = index(raw or [])
        docs.append({"_id": key, "idx": {"p": entries} if entries else {}})
    return docs


def scratch_collection(
    mongodb_uri: str, docs: list[dict[str, Any]]
) -> Iterator[Collection[dict[str, Any]]]:
    name = f"medrec_test_{uuid.uuid4().hex[:12]}"
    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri)
    with client:
        client[name]["r"].insert_many(docs)
        yield client[name]["r"]
        client.drop_database(name)


def found(collection: Collection[dict[str, Any]], filter_: dict[str, Any]) -> set[str]:
    return {doc["_id"] for doc in collection.find(filter_, {"_id": 1})}
