"""The authorization endpoint: login, consent, patient picker, EHR launch, and the requests
it must refuse. Each test names the Inferno SMART App Launch STU2 check it mirrors."""

from __future__ import annotations

from fastapi import FastAPI

from tests.smart_auth.oauth_support import (
    FHIR_BASE,
    PASSWORD,
    auth,
    authorize_params,
    browser,
    consent,
    form_fields,
    get_code,
    log_in,
    new_app,
    new_patient,
    new_user,
    pkce,
    redeem,
    redirect_params,
)


async def test_standalone_launch_with_pkce(app: FastAPI) -> None:
    """Inferno standalone_launch_stu2: "OAuth server redirects client browser to app redirect
    URI" (code and state returned), "OAuth token exchange request succeeds when supported by
    server", "Token exchange response body contains required information encoded in JSON"."""
    client, _ = await new_app(app)
    user = await new_user(app)
    patient = await new_patient(app)
    verifier, challenge = pkce()
    params = authorize_params(client.client_id, challenge)
    async with browser(app) as http:
        page = await log_in(http, params, user.username)
        assert "Choose a patient" in page.text  # launch/patient without a launch context
        search = form_fields(page.text, "pick") | {"patient_query": "Doe"}
        found = await http.post("/auth/authorize", data=search)
        assert patient in found.text
        chosen = form_fields(found.text, "picked") | {"patient": patient}
        consent_page = await http.post("/auth/authorize", data=chosen)
        assert "Allow access?" in consent_page.text
        assert "Read, search the patient&#x27;s all kinds of records" in consent_page.text
        back = redirect_params(await consent(http, consent_page))
        assert back["state"] == params["state"]
        response = await redeem(http, back["code"], verifier, client.client_id)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] > 0
    assert body["patient"] == patient
    assert body["need_patient_banner"] is True
    assert body["smart_style_url"].endswith("/auth/smart-style.json")
    assert "fhirContext" in body
    assert body["refresh_token"] and body["id_token"]
    assert set(body["scope"].split()) == set(params["scope"].split())
    grant = await auth(app).tokens.check(body["access_token"], FHIR_BASE)
    assert (grant.subject, grant.patient, grant.role) == (user.id, patient, "practitioner")


async def test_authorize_post(app: FastAPI) -> None:
    """Inferno: authorize-post capability — the authorization request sent as a form POST."""
    client, _ = await new_app(app)
    user = await new_user(app)
    _, challenge = pkce()
    params = authorize_params(client.client_id, challenge, scope="openid fhirUser user/*.rs")
    async with browser(app) as http:
        page = await http.post("/auth/authorize", data=params)
        assert page.status_code == 200
        login = form_fields(page.text, "login") | {"username": user.username, "password": PASSWORD}
        back = redirect_params(await consent(http, await http.post("/auth/authorize", data=login)))
    assert back["code"] and back["state"] == params["state"]


async def test_missing_pkce_is_refused(app: FastAPI) -> None:
    """Inferno STU2 "OAuth server redirects client browser to app redirect URI" negative:
    PKCE is required (SMART 2: code_challenge_method S256 for every client)."""
    client, _ = await new_app(app, kind="confidential-symmetric")
    params = authorize_params(client.client_id, None)
    async with browser(app) as http:
        back = redirect_params(await http.get("/auth/authorize", params=params))
    assert back["error"] == "invalid_request"
    assert back["state"] == params["state"]


async def test_plain_pkce_is_refused(app: FastAPI) -> None:
    """Inferno STU2 PKCE check: a `plain` code_challenge_method is not accepted."""
    client, _ = await new_app(app)
    verifier, _ = pkce()
    params = authorize_params(client.client_id, verifier, code_challenge_method="plain")
    async with browser(app) as http:
        back = redirect_params(await http.get("/auth/authorize", params=params))
    assert back["error"] == "invalid_request"


async def test_wrong_redirect_uri_is_not_redirected_to(app: FastAPI) -> None:
    """Inferno: redirect_uri must exactly match a registered one; RFC 6749 §4.1.2.1: the
    error is shown to the user, never sent to an unregistered URI."""
    client, _ = await new_app(app)
    _, challenge = pkce()
    params = authorize_params(
        client.client_id, challenge, redirect_uri="https://app.example/callback/evil"
    )
    async with browser(app) as http:
        response = await http.get("/auth/authorize", params=params)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "text/html" in response.headers["content-type"]


async def test_unknown_client_is_refused(app: FastAPI) -> None:
    """Inferno: an unregistered client_id is refused without a redirect."""
    _, challenge = pkce()
    async with browser(app) as http:
        response = await http.get("/auth/authorize", params=authorize_params("nobody", challenge))
    assert response.status_code == 400
    assert "location" not in response.headers


async def test_wrong_aud_is_refused(app: FastAPI) -> None:
    """Inferno STU2 "aud" check: the aud parameter must be the FHIR base URL."""
    client, _ = await new_app(app)
    _, challenge = pkce()
    params = authorize_params(client.client_id, challenge, aud="https://other.example/fhir")
    async with browser(app) as http:
        back = redirect_params(await http.get("/auth/authorize", params=params))
    assert back["error"] == "invalid_request"
    assert back["state"] == params["state"]


async def test_denied_consent(app: FastAPI) -> None:
    """Inferno: the user declines — the app gets access_denied with its state."""
    client, _ = await new_app(app)
    user = await new_user(app)
    _, challenge = pkce()
    params = authorize_params(client.client_id, challenge, scope="user/*.rs")
    async with browser(app) as http:
        page = await log_in(http, params, user.username)
        back = redirect_params(await consent(http, page, "deny"))
    assert back["error"] == "access_denied"
    assert back["state"] == params["state"]


async def test_form_without_csrf_token_is_refused(app: FastAPI) -> None:
    """CSRF protection on every form POST (no Inferno equivalent)."""
    client, _ = await new_app(app)
    user = await new_user(app)
    _, challenge = pkce()
    params = authorize_params(client.client_id, challenge)
    async with browser(app) as http:
        page = await http.get("/auth/authorize", params=params)
        fields = form_fields(page.text, "login") | {
            "username": user.username,
            "password": PASSWORD,
            "csrf_token": "forged-" + "x" * 40,
        }
        response = await http.post("/auth/authorize", data=fields)
    assert response.status_code == 403
    assert "medrec_session" not in response.cookies


async def test_session_cookie_flags_and_reuse(app: FastAPI) -> None:
    """Login session: HttpOnly, SameSite=Lax; a second authorization skips the login page."""
    client, _ = await new_app(app)
    user = await new_user(app)
    _, challenge = pkce()
    params = authorize_params(client.client_id, challenge, scope="user/*.rs")
    async with browser(app) as http:
        page = await log_in(http, params, user.username)
        cookie = page.headers["set-cookie"].lower()
        assert "medrec_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
        again = await http.get("/auth/authorize", params=params)
    assert "Allow access?" in again.text


async def test_lockout_via_login_form(app: FastAPI) -> None:
    """Inferno has no lockout test; HIPAA §164.312(d): repeated failures lock the account,
    and then even the right password is refused."""
    client, _ = await new_app(app)
    user = await new_user(app)
    _, challenge = pkce()
    params = authorize_params(client.client_id, challenge)
    failures = auth(app).settings.login_max_failures
    async with browser(app) as http:
        for _ in range(failures):
            page = await log_in(http, params, user.username, "wrong password!")
            assert page.status_code == 401
            assert "Log in" in page.text
        page = await log_in(http, params, user.username)
    assert page.status_code == 401
    assert "lock" in page.text.lower()
    assert "medrec_session" not in http.cookies


async def test_ehr_launch_context(app: FastAPI) -> None:
    """Inferno ehr_launch_stu2: "EHR server sends launch parameter", the token response
    carries the launch context's patient and encounter."""
    client, _ = await new_app(app)
    doctor = await new_user(app)
    patient = await new_patient(app)
    verifier, challenge = pkce()
    async with browser(app) as http:
        # The EHR user's own token (issued for this test directly) creates the context.
        from smart_auth.tokens import Grant

        minted = auth(app).tokens.mint(
            Grant(doctor.id, "ehr", "user/*.rs", role="practitioner"),
            issuer=FHIR_BASE,
            audience=FHIR_BASE,
        )
        created = await http.post(
            "/auth/launch",
            json={"patient": patient, "encounter": "enc-1"},
            headers={"Authorization": f"Bearer {minted.token}"},
        )
        assert created.status_code == 201, created.text
        launch = created.json()["launch"]
        params = authorize_params(
            client.client_id, challenge, scope="launch openid patient/*.rs", launch=launch
        )
        back = await get_code(http, params, doctor)
        body = (await redeem(http, back["code"], verifier, client.client_id)).json()
    assert body["patient"] == patient
    assert body["encounter"] == "enc-1"
    assert body["fhirContext"] == [{"reference": "Encounter/enc-1"}]


async def test_launch_needs_a_practitioner_token(app: FastAPI) -> None:
    """Only an authenticated practitioner or admin creates launch contexts."""
    patient = await new_patient(app)
    async with browser(app) as http:
        response = await http.post("/auth/launch", json={"patient": patient})
    assert response.status_code == 401


async def test_unknown_launch_is_refused(app: FastAPI) -> None:
    """Inferno ehr_launch_stu2 negative: an invalid launch value."""
    client, _ = await new_app(app)
    _, challenge = pkce()
    params = authorize_params(client.client_id, challenge, launch="made-up")
    async with browser(app) as http:
        back = redirect_params(await http.get("/auth/authorize", params=params))
    assert back["error"] == "invalid_request"


async def test_patient_user_gets_own_patient_and_no_user_scopes(app: FastAPI) -> None:
    """Inferno "patient-level" access: a patient's token is for their own record; user/
    scopes become patient/ ones (our documented choice)."""
    client, _ = await new_app(app)
    patient = await new_patient(app)
    user = await new_user(app, "patient", f"Patient/{patient}")
    verifier, challenge = pkce()
    params = authorize_params(
        client.client_id, challenge, scope="openid fhirUser launch/patient user/*.rs"
    )
    async with browser(app) as http:
        back = await get_code(http, params, user)  # no picker for a patient
        body = (await redeem(http, back["code"], verifier, client.client_id)).json()
    assert body["patient"] == patient
    assert "user/*.rs" not in body["scope"].split()
    assert "patient/*.rs" in body["scope"].split()


async def test_nothing_grantable_is_invalid_scope(app: FastAPI) -> None:
    """Inferno: scopes the client is not registered for are not granted; when nothing is
    left the app gets invalid_scope."""
    client, _ = await new_app(app, scope="patient/*.rs")
    user = await new_user(app)
    _, challenge = pkce()
    params = authorize_params(client.client_id, challenge, scope="system/*.rs")
    async with browser(app) as http:
        back = redirect_params(await log_in(http, params, user.username))
    assert back["error"] == "invalid_scope"
    assert back["state"] == params["state"]


async def test_pages_escape_what_they_show(app: FastAPI) -> None:
    """The consent page shows the client's name and the request's values escaped (no
    Inferno equivalent: XSS through a registered name or a crafted state)."""
    client, _ = await auth(app).clients.add(
        "<script>alert(1)</script>", "public", ["https://app.example/callback"], "user/*.rs"
    )
    user = await new_user(app)
    _, challenge = pkce()
    params = authorize_params(client.client_id, challenge, scope="user/*.rs")
    params["state"] = '"><script>alert(2)</script>'
    async with browser(app) as http:
        page = await log_in(http, params, user.username)
    assert "<script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert page.headers["x-frame-options"] == "DENY"
