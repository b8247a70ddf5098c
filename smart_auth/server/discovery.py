"""The discovery documents: SMART's ``.well-known/smart-configuration`` and OpenID's
``.well-known/openid-configuration``, both describing this one server."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from smart_auth.keys import SIGNING_ALG
from smart_auth.server.assertions import ASSERTION_ALGORITHMS
from smart_auth.server.client_model import PRIVATE_KEY_JWT
from smart_auth.server.urls import auth_url, issuer

GRANT_TYPES = ["authorization_code", "refresh_token", "client_credentials"]
AUTH_METHODS = ["client_secret_basic", "client_secret_post", PRIVATE_KEY_JWT, "none"]
CAPABILITIES = [
    "launch-ehr",
    "launch-standalone",
    "authorize-post",
    "client-public",
    "client-confidential-symmetric",
    "client-confidential-asymmetric",
    "sso-openid-connect",
    "context-banner",
    "context-style",
    "context-ehr-patient",
    "context-ehr-encounter",
    "context-standalone-patient",
    "permission-offline",
    "permission-online",
    "permission-patient",
    "permission-user",
    "permission-v1",
    "permission-v2",
]
SCOPES = [
    "openid",
    "fhirUser",
    "launch",
    "launch/patient",
    "launch/encounter",
    "offline_access",
    "online_access",
    "patient/*.rs",
    "patient/*.cruds",
    "patient/*.read",
    "patient/*.write",
    "user/*.rs",
    "user/*.cruds",
    "user/*.read",
    "user/*.write",
    "system/*.rs",
    "system/*.read",
]
ID_TOKEN_CLAIMS = ["iss", "sub", "aud", "exp", "iat", "nonce", "fhirUser"]


def _endpoints(request: Request) -> dict[str, str]:
    return {
        "issuer": issuer(request),
        "jwks_uri": auth_url(request, "jwks"),
        "authorization_endpoint": auth_url(request, "authorize"),
        "token_endpoint": auth_url(request, "token"),
        "introspection_endpoint": auth_url(request, "introspect"),
        "revocation_endpoint": auth_url(request, "revoke"),
    }


def _common() -> dict[str, Any]:
    return {
        "grant_types_supported": GRANT_TYPES,
        "response_types_supported": ["code"],
        "scopes_supported": SCOPES,
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
        "code_challenge_methods_supported": ["S256"],
    }


def smart_configuration(request: Request) -> dict[str, Any]:
    return {
        **_endpoints(request),
        **_common(),
        "capabilities": CAPABILITIES,
        "launch_endpoint": auth_url(request, "launch"),
    }


def openid_configuration(request: Request) -> dict[str, Any]:
    return {
        **_endpoints(request),
        **_common(),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [SIGNING_ALG],
        "claims_supported": ID_TOKEN_CLAIMS,
    }
