"""End to end: real SMART clients against `medrec serve` (a subprocess running its own embedded
database), over real HTTP on 127.0.0.1.

- The Python `fhirclient` (SMART on FHIR's own client library) completes a standalone launch:
  it discovers the endpoints from the CapabilityStatement, the test plays the person in the
  browser (login, patient picker, consent: the server's HTML forms, CSRF field included),
  fhirclient exchanges the code (PKCE S256), reads the patient, refreshes and reads again.
- A backend service gets tokens with RS384- and ES384-signed assertions and searches with them.

Each test names the checks of the Inferno SMART App Launch STU2 test kit
(inferno-framework/smart-app-launch-test-kit, groups smart_discovery_stu2,
smart_standalone_launch_stu2, smart_openid_connect, smart_token_refresh_stu2,
backend_services_authorization) it mirrors.
"""

# fhirclient has no type hints.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import requests
from fhirclient import client as smart_client
from fhirclient.models.patient import Patient
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.e2e.server import stop_server
from tests.e2e.smart_site import (
    APP_SCOPE,
    ASSERTION_TYPE,
    FHIR_JSON,
    REDIRECT_URI,
    Browser,
    SmartSite,
    client_assertion,
    client_credentials,
    signing_keys,
    smart_configuration,
    start_smart_site,
)

pytestmark = pytest.mark.slow

# What the brief's app asks for: a standalone launch with a patient picked at login.
LAUNCH_SCOPE = "launch/patient openid fhirUser offline_access patient/*.read"
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmartSite]:
    running = start_smart_site(tmp_path_factory.mktemp("medrec-smart"))
    try:
        yield running
    finally:
        code = stop_server(running.server)
        assert code == 0, (
            f"medrec serve exited with {code} after SIGTERM\n{running.server.output()}"
        )


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30, trust_env=False) as client:
        yield client


class TokenResponses:
    """The token endpoint's responses to fhirclient, through a `requests` response hook:
    fhirclient keeps only the parsed body."""

    def __init__(self, token_url: str) -> None:
        self.token_url = token_url
        self.seen: list[requests.Response] = []

    def hook(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        if response.request.url == self.token_url:
            self.seen.append(response)


def new_fhirclient(site: SmartSite, scope: str = LAUNCH_SCOPE) -> smart_client.FHIRClient:
    settings = {
        "app_id": site.app_id,
        "api_base": site.fhir_base,
        "redirect_uri": REDIRECT_URI,
        "scope": scope,
    }
    return smart_client.FHIRClient(settings=settings)


def jwt_part(token: str, index: int) -> dict[str, Any]:
    part = token.split(".")[index]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def assert_token_headers(response: requests.Response | httpx.Response) -> None:
    """Inferno smart_token_response_headers, "Response includes correct HTTP Cache-Control and
    Pragma headers"."""
    assert "no-store" in response.headers["cache-control"]
    assert response.headers["pragma"] == "no-cache"


def assert_token_body(body: dict[str, Any], *, refresh: bool = True) -> None:
    """Inferno smart_token_response_body_stu2 / smart_token_refresh_body, "Token exchange
    response body contains required information encoded in JSON"."""
    assert isinstance(body["access_token"], str) and body["access_token"]
    assert body["token_type"].lower() == "bearer"
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    assert isinstance(body["scope"], str) and body["scope"]
    if refresh:
        assert isinstance(body["refresh_token"], str) and body["refresh_token"]


# -- discovery ---------------------------------------------------------------------------------


def test_discovery(site: SmartSite, http: httpx.Client) -> None:
    """Inferno smart_discovery_stu2: "FHIR server makes SMART configuration available from
    well-known endpoint", "Well-known configuration contains required fields", "Well-known
    configuration declares support for required capabilities"; and the STU1 discovery check
    "Conformance/CapabilityStatement provides OAuth 2.0 endpoints", which is how fhirclient
    finds them."""
    config = smart_configuration(http, site.fhir_base)
    root = site.server.url
    assert config["issuer"] == site.fhir_base
    assert config["authorization_endpoint"] == f"{root}/auth/authorize"
    assert config["token_endpoint"] == f"{root}/auth/token"
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert {"authorization_code", "client_credentials"} <= set(config["grant_types_supported"])
    assert {"private_key_jwt"} <= set(config["token_endpoint_auth_methods_supported"])
    assert {"RS384", "ES384"} <= set(config["token_endpoint_auth_signing_alg_values_supported"])
    assert {
        "launch-standalone",
        "client-public",
        "client-confidential-asymmetric",
        "context-standalone-patient",
        "sso-openid-connect",
        "permission-offline",
        "permission-patient",
        "permission-v1",
        "permission-v2",
    } <= set(config["capabilities"])

    metadata = http.get(f"{site.fhir_base}/metadata", headers={"Accept": FHIR_JSON})
    assert metadata.status_code == 200
    security = metadata.json()["rest"][0]["security"]
    (oauth,) = [e for e in security["extension"] if e["url"] == OAUTH_URIS]
    uris = {e["url"]: e["valueUri"] for e in oauth["extension"]}
    assert uris["authorize"] == config["authorization_endpoint"]
    assert uris["token"] == config["token_endpoint"]


# -- fhirclient: standalone launch -------------------------------------------------------------


def launch(
    site: SmartSite, browser: Browser, scope: str = LAUNCH_SCOPE
) -> tuple[smart_client.FHIRClient, TokenResponses]:
    """fhirclient's side of a standalone launch, with ``browser`` playing the person."""
    smart = new_fhirclient(site, scope)
    tokens = TokenResponses(f"{site.server.url}/auth/token")
    smart.server.session.trust_env = False
    smart.server.session.hooks["response"].append(tokens.hook)

    # Inferno smart_app_redirect_stu2, "OAuth server redirects client browser to app redirect
    # URI": fhirclient builds the authorize URL (endpoints from the CapabilityStatement's
    # oauth-uris, aud = the FHIR base, PKCE S256, state).
    authorize_url = smart.authorize_url
    sent = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
    assert authorize_url.startswith(f"{site.server.url}/auth/authorize?")
    assert sent["aud"] == site.fhir_base
    assert sent["code_challenge_method"] == "S256"
    callback = browser.authorize(authorize_url, REDIRECT_URI)

    # Inferno smart_code_received, "OAuth server sends code parameter": a code and our state.
    returned = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    assert returned.get("code"), callback
    assert returned["state"] == sent["state"]

    # Inferno smart_token_exchange_stu2, "OAuth token exchange request succeeds when supplied
    # correct information" (public client: client_id and code_verifier, no secret).
    smart.handle_callback(callback)
    assert smart.ready
    (exchange,) = tokens.seen
    assert exchange.status_code == 200
    assert exchange.request.body is not None
    assert "code_verifier=" in str(exchange.request.body)
    assert_token_headers(exchange)
    assert_token_body(exchange.json())
    return smart, tokens


def test_fhirclient_standalone_launch_as_patient(site: SmartSite, http: httpx.Client) -> None:
    """The patient logs in: no picker, their own record is the launch context."""
    with httpx.Client(timeout=30, trust_env=False) as browser_http:
        browser = Browser(browser_http, site.patient_user)
        smart, tokens = launch(site, browser)
    assert browser.pages == ["login", "consent"]
    body = tokens.seen[0].json()

    # Inferno smart_token_response_body_stu2: the launch context the scopes asked for.
    assert smart.patient_id == site.patient_id
    assert body["patient"] == site.patient_id
    granted = body["scope"].split()
    assert {"launch/patient", "openid", "fhirUser", "offline_access", "patient/*.read"} <= set(
        granted
    )

    # Inferno smart_openid_connect: smart_openid_retrieve_configuration, ..._retrieve_jwks,
    # smart_openid_decode_id_token, smart_openid_token_header, smart_openid_token_payload,
    # smart_openid_fhir_user_claim, smart_openid_request_fhir_user.
    oidc = http.get(f"{site.fhir_base}/.well-known/openid-configuration").json()
    assert oidc["issuer"] == site.fhir_base
    jwks = http.get(oidc["jwks_uri"]).json()
    id_token = body["id_token"]
    header = jwt_part(id_token, 0)
    assert header["alg"] in oidc["id_token_signing_alg_values_supported"]
    verified = jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=[header["alg"]])
    claims = verified.claims
    assert claims["iss"] == site.fhir_base
    assert claims["aud"] in (site.app_id, [site.app_id])
    assert claims["sub"] and claims["exp"] > claims["iat"]
    assert claims["fhirUser"].endswith(f"Patient/{site.patient_id}")
    fhir_user = claims["fhirUser"]
    fhir_user_url = fhir_user if "://" in fhir_user else f"{site.fhir_base}/{fhir_user}"
    auth = {"Authorization": f"Bearer {smart.server.auth.access_token}", "Accept": FHIR_JSON}
    resolved = http.get(fhir_user_url, headers=auth)
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["id"] == site.patient_id

    # "Access to Patient resource granted": fhirclient reads the launch patient.
    patient = Patient.read(smart.patient_id, smart.server)
    assert patient.id == site.patient_id
    assert patient.name[0].family == "Lindqvist"
    # ... and its compartment (patient/*.read covers the search).
    bundle = smart.server.request_json(f"Observation?patient={site.patient_id}")
    found = {entry["resource"]["id"] for entry in bundle.get("entry", [])}
    assert found == set(site.observation_ids)

    # Inferno smart_token_refresh_stu2, "Refresh token exchange succeeds when optional scope
    # parameter omitted", smart_token_refresh_body and smart_token_response_headers.
    first_access = smart.server.auth.access_token
    first_refresh = smart.server.auth.refresh_token
    assert smart.reauthorize()
    refresh = tokens.seen[-1]
    assert refresh.status_code == 200, refresh.text
    assert_token_headers(refresh)
    assert_token_body(refresh.json())
    assert smart.server.auth.access_token != first_access
    assert smart.server.auth.refresh_token != first_refresh  # rotated
    assert smart.patient_id == site.patient_id
    again = Patient.read(site.patient_id, smart.server)
    assert again.id == site.patient_id

    # The patient's token does not reach another patient's record.
    other = http.get(
        f"{site.fhir_base}/Patient/{site.other_patient_id}",
        headers={"Authorization": f"Bearer {smart.server.auth.access_token}"},
    )
    assert other.status_code in (403, 404), other.text

    # Rotation: the refresh token used once is spent.
    reused = http.post(
        f"{site.server.url}/auth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": first_refresh,
            "client_id": site.app_id,
        },
    )
    assert reused.status_code in (400, 401), reused.text
    assert reused.json()["error"] == "invalid_grant"


def test_fhirclient_standalone_launch_with_patient_picker(site: SmartSite) -> None:
    """A practitioner logs in and picks the patient (launch/patient without a launch
    context): Inferno smart_standalone_launch_stu2 as above, with "context-standalone-patient"."""
    with httpx.Client(timeout=30, trust_env=False) as browser_http:
        browser = Browser(
            browser_http,
            site.practitioner_user,
            patient_name="Lindqvist",
            patient_id=site.patient_id,
        )
        smart, tokens = launch(site, browser)
    assert browser.pages == ["login", "search", "pick", "consent"]
    body = tokens.seen[0].json()
    assert body["patient"] == site.patient_id
    assert smart.patient_id == site.patient_id
    assert jwt_part(body["id_token"], 1)["fhirUser"].endswith(
        f"Practitioner/{site.practitioner_id}"
    )
    patient = Patient.read(site.patient_id, smart.server)
    assert patient.birthDate.isostring == "1961-03-14"
    assert smart.reauthorize()
    assert Patient.read(site.patient_id, smart.server).id == site.patient_id


def test_fhirclient_unused_app_scope_is_not_granted(site: SmartSite) -> None:
    """The registered scope bounds what is granted (Inferno smart_token_response_body_stu2
    checks the granted scope is returned): online_access was allowed to the app, not asked."""
    with httpx.Client(timeout=30, trust_env=False) as browser_http:
        _, tokens = launch(site, Browser(browser_http, site.patient_user))
    granted = set(tokens.seen[0].json()["scope"].split())
    assert "online_access" not in granted
    assert granted <= set(APP_SCOPE.split())


# -- backend services --------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_backend_services_token_and_search(site: SmartSite, http: httpx.Client, alg: str) -> None:
    """Inferno backend_services_authorization: "Authorization service token endpoint can be
    found", "Authorization request succeeds when supplied correct information",
    "Authorization request response body contains required information encoded in JSON";
    then a search with the token (the Bulk Data kit's next step, over plain FHIR search)."""
    token_url = smart_configuration(http, site.fhir_base)["token_endpoint"]
    key = site.rsa if alg == "RS384" else site.ec
    signed = client_assertion(key, site.backend_id, token_url, alg)
    assert jwt_part(signed, 0)["alg"] == alg

    response = client_credentials(
        http, token_url, signed, "system/Patient.rs system/Observation.rs"
    )
    assert response.status_code == 200, response.text
    assert_token_headers(response)
    body = response.json()
    assert_token_body(body, refresh=False)
    assert set(body["scope"].split()) == {"system/Patient.rs", "system/Observation.rs"}
    assert body["expires_in"] <= 3600

    auth = {"Authorization": f"Bearer {body['access_token']}", "Accept": FHIR_JSON}
    search = http.get(
        f"{site.fhir_base}/Observation",
        params={"subject": f"Patient/{site.patient_id}", "_count": "10"},
        headers=auth,
    )
    assert search.status_code == 200, search.text
    bundle = search.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    found = {e["resource"]["id"] for e in bundle["entry"] if e["search"]["mode"] == "match"}
    assert found == set(site.observation_ids)

    patients = http.get(f"{site.fhir_base}/Patient", params={"_count": "50"}, headers=auth)
    assert patients.status_code == 200, patients.text
    ids = {e["resource"]["id"] for e in patients.json()["entry"]}
    assert {site.patient_id, site.other_patient_id} <= ids

    # The token is not for writing: system/*.rs was asked for, not .c or .u.
    denied = http.put(
        f"{site.fhir_base}/Patient/{site.patient_id}",
        json={"resourceType": "Patient", "id": site.patient_id},
        headers={**auth, "Content-Type": FHIR_JSON},
    )
    assert denied.status_code == 403, denied.text


def test_backend_services_rejections(site: SmartSite, http: httpx.Client) -> None:
    """Inferno backend_services_authorization: "Authorization request fails when client supplies
    invalid grant_type", "... invalid client_assertion_type", "... invalid JWT token" (signed
    with a key that is not the client's); and a search without a token is refused."""
    token_url = smart_configuration(http, site.fhir_base)["token_endpoint"]
    scope = "system/Patient.rs"
    fresh = lambda: client_assertion(site.rsa, site.backend_id, token_url, "RS384")  # noqa: E731

    wrong_grant = client_credentials(http, token_url, fresh(), scope, grant_type="not_a_grant")
    assert wrong_grant.status_code == 400, wrong_grant.text
    assert wrong_grant.json()["error"] == "unsupported_grant_type"

    wrong_type = client_credentials(
        http, token_url, fresh(), scope, client_assertion_type=ASSERTION_TYPE + "-bogus"
    )
    assert wrong_type.status_code in (400, 401), wrong_type.text
    assert wrong_type.json()["error"] in ("invalid_client", "invalid_request")

    stranger, _ = signing_keys()
    stranger_signed = client_assertion(stranger, site.backend_id, token_url, "RS384")
    wrong_key = client_credentials(http, token_url, stranger_signed, scope)
    assert wrong_key.status_code in (400, 401), wrong_key.text
    assert wrong_key.json()["error"] == "invalid_client"

    anonymous = http.get(f"{site.fhir_base}/Patient", headers={"Accept": FHIR_JSON})
    assert anonymous.status_code == 401, anonymous.text
