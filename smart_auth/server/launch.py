"""EHR launch contexts: an authorised user of the EHR asks for one (``POST /auth/launch``) for
a patient and perhaps an encounter, and hands the opaque ``launch`` value to the app, which
passes it back on ``/auth/authorize``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from smart_auth.server.codes import LaunchContext
from smart_auth.server.opaque import digest, expiry, new_secret

LAUNCH_COLLECTION = "auth_launch_contexts"
LAUNCH_LIFETIME_S = 3600


class LaunchContexts:
    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.contexts = db[LAUNCH_COLLECTION]

    async def ensure_indexes(self) -> None:
        await self.contexts.create_index("expires", expireAfterSeconds=0)

    async def create(self, context: LaunchContext, created_by: str) -> str:
        launch = new_secret()
        await self.contexts.insert_one(
            {
                "_id": digest(launch),
                "patient": context.patient,
                "encounter": context.encounter,
                "banner": context.need_patient_banner,
                "created_by": created_by,
                "expires": expiry(LAUNCH_LIFETIME_S),
            }
        )
        return launch

    async def get(self, launch: str) -> LaunchContext | None:
        doc = await self.contexts.find_one(
            {"_id": digest(launch), "expires": {"$gt": datetime.now(UTC)}}
        )
        if doc is None:
            return None
        return LaunchContext(doc["patient"], doc["encounter"], doc["banner"])
