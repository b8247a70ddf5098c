"""Login sessions: a random id in an HttpOnly, SameSite=Lax cookie (Secure over https), kept
server-side as its digest, ended after ``session_idle_timeout_s`` without use (HIPAA
automatic logoff)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from starlette.requests import Request
from starlette.responses import Response

from smart_auth.server.opaque import digest, expiry, new_secret
from smart_auth.server.urls import AUTH_PATH, is_https

SESSIONS_COLLECTION = "auth_sessions"
SESSION_COOKIE = "medrec_session"


class LoginSessions:
    def __init__(self, db: AsyncDatabase[Any], idle_timeout_s: int) -> None:
        self.sessions = db[SESSIONS_COLLECTION]
        self.idle_timeout_s = idle_timeout_s

    async def ensure_indexes(self) -> None:
        await self.sessions.create_index("expires", expireAfterSeconds=0)

    async def start(self, user_id: str) -> str:
        session_id = new_secret()
        await self.sessions.insert_one(
            {"_id": digest(session_id), "user_id": user_id, "expires": self._deadline()}
        )
        return session_id

    async def user_of(self, request: Request) -> str | None:
        """The user logged in by the request's cookie, extending the session; None when there
        is none or it has been idle too long."""
        session_id = request.cookies.get(SESSION_COOKIE)
        if not session_id:
            return None
        doc = await self.sessions.find_one_and_update(
            {"_id": digest(session_id), "expires": {"$gt": datetime.now(UTC)}},
            {"$set": {"expires": self._deadline()}},
        )
        return None if doc is None else str(doc["user_id"])

    def set_cookie(self, response: Response, request: Request, session_id: str) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            session_id,
            max_age=self.idle_timeout_s,
            path=AUTH_PATH,
            httponly=True,
            samesite="lax",
            secure=is_https(request),
        )

    def _deadline(self) -> datetime:
        return expiry(self.idle_timeout_s)
