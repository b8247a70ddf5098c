"""Connecting to MongoDB (a real cluster, or the embedded server) with the native async driver."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient

Document = dict[str, Any]


def connect(
    uri: str, app_name: str = "medrec", timeout_ms: int = 10_000
) -> AsyncMongoClient[Document]:
    return AsyncMongoClient(
        uri,
        appname=app_name,
        tz_aware=True,
        uuidRepresentation="standard",
        serverSelectionTimeoutMS=timeout_ms,
    )


async def server_status(client: AsyncMongoClient[Document], database: str) -> dict[str, Any]:
    """What `medrec db status` prints: server, version, topology, and the collections."""
    hello = await client.admin.command("hello")
    info = await client.admin.command("buildInfo")
    db = client[database]
    names = sorted(await db.list_collection_names())
    counts = {name: await db[name].estimated_document_count() for name in names}
    return {
        "version": info.get("version"),
        "replica_set": hello.get("setName"),
        "primary": hello.get("primary") or hello.get("me"),
        "database": database,
        "collections": counts,
    }
