"""The server's signing key (access tokens, id tokens): one RSA key, created on first start and
kept in MongoDB so that every medrec process sharing the database signs and verifies alike."""

from __future__ import annotations

from typing import Any

from joserfc.jwk import RSAKey
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

KEYS_COLLECTION = "auth_keys"
SIGNING_ALG = "RS256"  # what every OpenID relying party must accept


async def signing_key(db: AsyncDatabase[Any]) -> RSAKey:
    keys = db[KEYS_COLLECTION]
    stored = await keys.find_one({"_id": "signing"})
    if stored is None:
        fresh = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": SIGNING_ALG})
        fresh.ensure_kid()
        try:
            await keys.insert_one({"_id": "signing", "jwk": fresh.as_dict(private=True)})
            return fresh
        except DuplicateKeyError:  # another process created it first: use theirs
            stored = await keys.find_one({"_id": "signing"})
            assert stored is not None
    return RSAKey.import_key(stored["jwk"])


def public_jwks(key: RSAKey) -> dict[str, Any]:
    return {"keys": [key.as_dict(private=False)]}
