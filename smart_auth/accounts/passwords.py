"""argon2id hashes of passwords and client secrets. Hashing costs tens of milliseconds of CPU:
async callers run it in a worker thread so the event loop keeps serving."""

from __future__ import annotations

import asyncio
import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.low_level import Type

# argon2-cffi's defaults are RFC 9106's second recommended profile (t=3, 64 MiB, p=4).
_HASHER = PasswordHasher(type=Type.ID)


async def hash_password(password: str) -> str:
    """An argon2id hash (``$argon2id$v=19$…``) of ``password``."""
    return await asyncio.to_thread(_HASHER.hash, password)


async def verify_password(password_hash: str, password: str) -> bool:
    return await asyncio.to_thread(_verify, password_hash, password)


async def spend_verification(password: str) -> None:
    """Verify against a hash that matches nothing, so that a login for an unknown user takes
    about as long as one for a known user."""
    await asyncio.to_thread(_verify, _dummy_hash(), password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    return _HASHER.hash("not a password anyone has: only its verification time matters")
