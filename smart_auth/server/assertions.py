"""SMART Backend Services client authentication: ``private_key_jwt`` (RFC 7523).

The assertion must be signed RS384 or ES384 with one of the client's registered keys (Authlib
accepts only its recommended algorithms unless told; ``alg: none`` and HMAC are refused),
carry iss = sub = client_id, aud = the token endpoint URL, an exp at most five minutes ahead,
and a jti never seen before (kept until the assertion expires)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx
from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from smart_auth.server.authlib_adapter import current, on_loop
from smart_auth.server.client_model import PRIVATE_KEY_JWT, OAuthClient
from smart_auth.server.opaque import digest

JTI_COLLECTION = "auth_assertion_jtis"
ASSERTION_ALGORITHMS = ["RS384", "ES384"]
MAX_ASSERTION_LIFETIME_S = 300
LEEWAY_S = 30
JWKS_FETCH_TIMEOUT_S = 5.0


class AssertionJtis:
    """jti values already used, per client: a unique key, forgotten once the assertion
    would have expired anyway."""

    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.jtis = db[JTI_COLLECTION]

    async def ensure_indexes(self) -> None:
        await self.jtis.create_index("expires", expireAfterSeconds=0)

    async def first_use(self, client_id: str, jti: str, exp: int) -> bool:
        expires = datetime.fromtimestamp(exp + LEEWAY_S, UTC)
        try:
            await self.jtis.insert_one({"_id": digest(f"{client_id}\n{jti}"), "expires": expires})
        except DuplicateKeyError:
            return False
        return True


class PrivateKeyJwt(JWTBearerClientAssertion):  # type: ignore[misc]
    CLIENT_AUTH_METHOD = PRIVATE_KEY_JWT

    def __init__(self, jtis: AssertionJtis) -> None:
        super().__init__(validate_jti=True, leeway=LEEWAY_S)
        self.jtis = jtis

    def get_audiences(self) -> list[str]:
        return [current().token_url]

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> dict[str, Any]:
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=ASSERTION_ALGORITHMS)
        except (JoseError, ValueError):
            raise InvalidClientError(description="The client assertion is not valid.") from None
        self.verify_claims(token.claims)
        return token.claims

    def verify_claims(self, claims: dict[str, Any]) -> None:
        exp = claims.get("exp")
        if not isinstance(exp, int) or exp > time.time() + MAX_ASSERTION_LIFETIME_S + LEEWAY_S:
            raise InvalidClientError(
                description="The client assertion must expire within five minutes."
            )
        super().verify_claims(claims)

    def validate_jti(self, claims: dict[str, Any], jti: Any) -> bool:
        if not isinstance(jti, str) or not jti:
            return False
        return on_loop(self.jtis.first_use(str(claims["sub"]), jti, int(claims["exp"])))

    def resolve_client_public_key(self, client: OAuthClient) -> KeySet:
        registered = client.client
        if registered.jwks is not None:
            return KeySet.import_key_set(registered.jwks)  # type: ignore[arg-type]
        if registered.jwks_uri:
            try:
                response = httpx.get(registered.jwks_uri, timeout=JWKS_FETCH_TIMEOUT_S)
                response.raise_for_status()
                return KeySet.import_key_set(response.json())
            except (httpx.HTTPError, JoseError, ValueError, TypeError):
                raise InvalidClientError(
                    description="The client's jwks_uri did not give a key set."
                ) from None
        raise InvalidClientError(description="The client has no registered keys.")
