"""Reading back what a message wrote: every current resource of a type, as JSON."""

from __future__ import annotations

from typing import Any

import orjson

from fhir_server.storage.versions import version_from_document
from ingestion.hl7v2.receive import Receiver

JsonObject = dict[str, Any]


async def resources(receiver: Receiver, rtype: str) -> list[JsonObject]:
    collection = await receiver.repository.collections.current(rtype)
    found = []
    async for doc in collection.find({"del": {"$ne": True}}):
        body = version_from_document(rtype, doc).body
        assert body is not None
        found.append(orjson.loads(body))
    return found


async def counts(receiver: Receiver, *rtypes: str) -> dict[str, int]:
    return {rtype: len(await resources(receiver, rtype)) for rtype in rtypes}


def segment(ack: bytes | None, name: str) -> list[str]:
    """The fields of the ACK's first ``name`` segment (index 0: the name)."""
    assert ack is not None
    for line in ack.decode().split("\r"):
        if line.startswith(name):
            return line.split("|")
    raise AssertionError(f"no {name} in {ack!r}")
