"""Discovery: mirrors Inferno SMART App Launch STU2 "SMART on FHIR Discovery" (group
smart_discovery_stu2: well-known configuration, required fields and capabilities) and the
OpenID Connect configuration and JWKS checks of "OpenID Connect" (openid_connect group)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.smart_auth.oauth_support import FHIR_BASE, ORIGIN, browser

REQUIRED_CAPABILITIES = {
    "launch-ehr",
    "launch-standalone",
    "client-public",
    "client-confidential-symmetric",
    "client-confidential-asymmetric",
    "sso-openid-connect",
    "context-ehr-patient",
    "context-standalone-patient",
    "permission-offline",
    "permission-patient",
    "permission-user",
    "permission-v1",
    "permission-v2",
    "authorize-post",
}


async def test_smart_configuration_fields(client: httpx.AsyncClient) -> None:
    """Inferno: "FHIR server makes SMART configuration available from well-known endpoint"
    and "Well-known configuration contains required fields" (STU2)."""
    response = await client.get(".well-known/smart-configuration")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    config = response.json()
    assert config["issuer"] == FHIR_BASE
    assert config["authorization_endpoint"] == f"{ORIGIN}/auth/authorize"
    assert config["token_endpoint"] == f"{ORIGIN}/auth/token"
    assert config["introspection_endpoint"] == f"{ORIGIN}/auth/introspect"
    assert config["revocation_endpoint"] == f"{ORIGIN}/auth/revoke"
    assert config["jwks_uri"] == f"{ORIGIN}/auth/jwks"
    assert set(config["capabilities"]) >= REQUIRED_CAPABILITIES
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert {"authorization_code", "refresh_token", "client_credentials"} <= set(
        config["grant_types_supported"]
    )
    assert {"private_key_jwt", "client_secret_basic"} <= set(
        config["token_endpoint_auth_methods_supported"]
    )
    assert set(config["token_endpoint_auth_signing_alg_values_supported"]) == {"RS384", "ES384"}
    assert {"openid", "fhirUser", "launch", "launch/patient", "offline_access"} <= set(
        config["scopes_supported"]
    )
    assert config["response_types_supported"] == ["code"]


async def test_smart_configuration_at_root_too(app: FastAPI) -> None:
    """Inferno: the well-known document is served (here also at the origin's root)."""
    async with browser(app) as http:
        response = await http.get("/.well-known/smart-configuration")
    assert response.status_code == 200
    assert response.json()["issuer"] == FHIR_BASE


async def test_openid_configuration_and_jwks(client: httpx.AsyncClient, app: FastAPI) -> None:
    """Inferno: "OpenID Connect well-known configuration can be retrieved", "Signing keys
    can be retrieved from the JWKS endpoint", "OpenID configuration includes RS256"."""
    config = (await client.get(".well-known/openid-configuration")).json()
    assert config["issuer"] == FHIR_BASE
    assert "RS256" in config["id_token_signing_alg_values_supported"]
    assert {"iss", "sub", "aud", "exp", "iat", "fhirUser"} <= set(config["claims_supported"])
    async with browser(app) as http:
        jwks = (await http.get("/auth/jwks")).json()
    (key,) = jwks["keys"]
    assert key["kty"] == "RSA"
    assert key["kid"]
    assert "d" not in key and "p" not in key  # public part only


async def test_capability_statement_names_the_same_endpoints(client: httpx.AsyncClient) -> None:
    """Inferno SMART discovery STU2: "Conformance/CapabilityStatement provides OAuth 2.0
    endpoints" and "OAuth 2.0 Endpoints in the conformance statement match those from the
    well-known configuration"."""
    statement = (await client.get("metadata")).json()
    (oauth,) = statement["rest"][0]["security"]["extension"]
    uris = {entry["url"]: entry["valueUri"] for entry in oauth["extension"]}
    config = (await client.get(".well-known/smart-configuration")).json()
    assert uris["authorize"] == config["authorization_endpoint"]
    assert uris["token"] == config["token_endpoint"]
    assert uris["introspect"] == config["introspection_endpoint"]
    assert uris["revoke"] == config["revocation_endpoint"]
