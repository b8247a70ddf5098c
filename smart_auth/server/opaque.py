"""Opaque credentials (codes, refresh tokens, session ids, launch values): random, shown
once, stored only as their SHA-256 so that a copy of the database grants nothing."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def expiry(seconds: int) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def expired(at: datetime) -> bool:
    # Documents read back from MongoDB carry naive UTC datetimes.
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return aware <= datetime.now(UTC)
