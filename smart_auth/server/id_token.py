"""OpenID Connect id_token: who logged in, for the app (``aud`` = its client_id), signed RS256
with the server key."""

from __future__ import annotations

import time
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

from smart_auth.keys import SIGNING_ALG
from smart_auth.model import User

ID_TOKEN_LIFETIME_S = 3600


def id_token(
    key: RSAKey,
    *,
    issuer: str,
    client_id: str,
    user: User,
    fhir_user: str | None,
    nonce: str | None,
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": user.id,
        "aud": client_id,
        "iat": now,
        "exp": now + ID_TOKEN_LIFETIME_S,
    }
    if nonce:
        claims["nonce"] = nonce
    if fhir_user:
        claims["fhirUser"] = fhir_user
    return jwt.encode({"alg": SIGNING_ALG, "kid": key.kid, "typ": "JWT"}, claims, key)
