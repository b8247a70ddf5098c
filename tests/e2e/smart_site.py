"""A SMART-enabled `medrec serve` for the end-to-end client tests: users and clients registered
through the `medrec` CLI before it starts, data loaded over HTTP by a backend client; and a
browser that follows the authorization server's HTML forms the way a person would."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from tests.e2e.server import RunningServer, server_environment, start_server

PASSWORD = "correct horse battery staple 42"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
FHIR_JSON = "application/fhir+json"
# Never contacted: the browser below stops at the redirect, as an app's own page would take over.
REDIRECT_URI = "http://127.0.0.1:9/smart/callback"
APP_SCOPE = "launch/patient openid fhirUser offline_access online_access patient/*.read"
BACKEND_SCOPE = "system/*.cruds"
CLI_TIMEOUT = 120.0


@dataclass(frozen=True)
class SmartSite:
    """The running server and who and what was registered in it."""

    server: RunningServer
    patient_id: str  # Patient/<patient_id> is the patient user's fhirUser
    other_patient_id: str
    practitioner_id: str
    observation_ids: list[str]
    patient_user: str
    practitioner_user: str
    app_id: str  # public SMART app
    backend_id: str  # confidential-asymmetric backend service
    rsa: RSAKey
    ec: ECKey

    @property
    def fhir_base(self) -> str:
        return self.server.fhir_base


def medrec_cli(data_dir: Path, *args: str, stdin: str | None = None) -> str:
    """Run `medrec ARGS --data-dir DATA_DIR` (its own embedded database, started and stopped)."""
    command = [sys.executable, "-m", "fhir_server.cli", *args, "--data-dir", str(data_dir)]
    done = subprocess.run(
        command,
        input=stdin,
        capture_output=True,
        text=True,
        cwd=data_dir,
        env=server_environment(),
        timeout=CLI_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"medrec {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def signing_keys() -> tuple[RSAKey, ECKey]:
    rsa = RSAKey.generate_key(2048, parameters={"alg": "RS384", "use": "sig"})
    rsa.ensure_kid()
    ec = ECKey.generate_key("P-384", parameters={"alg": "ES384", "use": "sig"})
    ec.ensure_kid()
    return rsa, ec


def client_assertion(key: RSAKey | ECKey, client_id: str, token_url: str, alg: str) -> str:
    """A SMART Backend Services authentication JWT: iss = sub = client_id, aud = the token
    endpoint, exp 4 minutes ahead (at most 5 allowed), a fresh jti."""
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "exp": now + 240,
        "iat": now,
        "jti": uuid.uuid4().hex,
    }
    header = {"alg": alg, "kid": key.kid, "typ": "JWT"}
    return jwt.encode(header, claims, key, algorithms=[alg])


def client_credentials(
    http: httpx.Client, token_url: str, assertion: str, scope: str, **overrides: str
) -> httpx.Response:
    data = {
        "grant_type": "client_credentials",
        "scope": scope,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
    }
    data.update(overrides)
    return http.post(token_url, data=data)


def smart_configuration(http: httpx.Client, fhir_base: str) -> dict[str, Any]:
    response = http.get(f"{fhir_base}/.well-known/smart-configuration")
    assert response.status_code == 200, response.text
    config: dict[str, Any] = response.json()
    return config


def register(data_dir: Path, site_ids: dict[str, str], rsa: RSAKey, ec: ECKey) -> None:
    """Users and clients through the CLI, before the server starts (the CLI starts the embedded
    database of ``data_dir`` itself, which only one process at a time may run)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    medrec_cli(
        data_dir,
        "users", "add", site_ids["patient_user"],
        "--role", "patient",
        "--fhir-user", f"Patient/{site_ids['patient']}",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    medrec_cli(
        data_dir,
        "users", "add", site_ids["practitioner_user"],
        "--role", "practitioner",
        "--fhir-user", f"Practitioner/{site_ids['practitioner']}",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    medrec_cli(
        data_dir,
        "clients", "add", "fhirclient test app",
        "--kind", "public",
        "--redirect-uri", REDIRECT_URI,
        "--scope", APP_SCOPE,
        "--client-id", site_ids["app"],
    )  # fmt: skip
    jwks_file = data_dir / "backend-jwks.json"
    public = {"keys": [rsa.as_dict(private=False), ec.as_dict(private=False)]}
    jwks_file.write_text(json.dumps(public))
    medrec_cli(
        data_dir,
        "clients", "add", "Backend service",
        "--kind", "confidential-asymmetric",
        "--jwks", str(jwks_file),
        "--scope", BACKEND_SCOPE,
        "--client-id", site_ids["backend"],
    )  # fmt: skip


def load_data(site_ids: dict[str, str], server: RunningServer, rsa: RSAKey) -> list[str]:
    """Two patients, a practitioner and the first patient's observations, PUT with the ids the
    users were linked to, by the backend service (system/*.cruds). Returns the observation ids."""
    base = server.fhir_base
    with httpx.Client(timeout=30, trust_env=False) as http:
        token_url = smart_configuration(http, base)["token_endpoint"]
        signed = client_assertion(rsa, site_ids["backend"], token_url, "RS384")
        response = client_credentials(http, token_url, signed, BACKEND_SCOPE)
        assert response.status_code == 200, response.text
        headers = {
            "Authorization": f"Bearer {response.json()['access_token']}",
            "Content-Type": FHIR_JSON,
            "Accept": FHIR_JSON,
        }
        resources: list[dict[str, Any]] = [
            {
                "resourceType": "Patient",
                "id": site_ids["patient"],
                "name": [{"family": "Lindqvist", "given": ["Astrid"]}],
                "gender": "female",
                "birthDate": "1961-03-14",
            },
            {
                "resourceType": "Patient",
                "id": site_ids["other_patient"],
                "name": [{"family": "Okafor", "given": ["Chidi"]}],
                "gender": "male",
                "birthDate": "1980-11-02",
            },
            {
                "resourceType": "Practitioner",
                "id": site_ids["practitioner"],
                "name": [{"family": "Haddad", "given": ["Samir"], "prefix": ["Dr."]}],
            },
        ]
        observation_ids = [f"obs-{uuid.uuid4().hex[:12]}" for _ in range(3)]
        for number, oid in enumerate(observation_ids):
            resources.append(
                {
                    "resourceType": "Observation",
                    "id": oid,
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                    "subject": {"reference": f"Patient/{site_ids['patient']}"},
                    "valueQuantity": {"value": 60 + number, "unit": "/min"},
                }
            )
        for resource in resources:
            url = f"{base}/{resource['resourceType']}/{resource['id']}"
            put = http.put(url, content=json.dumps(resource), headers=headers)
            assert put.status_code in (200, 201), put.text
    return observation_ids


def start_smart_site(data_dir: Path) -> SmartSite:
    suffix = uuid.uuid4().hex[:8]
    site_ids = {
        "patient": f"pat-{suffix}",
        "other_patient": f"pat-other-{suffix}",
        "practitioner": f"doc-{suffix}",
        "patient_user": f"astrid-{suffix}",
        "practitioner_user": f"samir-{suffix}",
        "app": f"fhirclient-app-{suffix}",
        "backend": f"backend-{suffix}",
    }
    rsa, ec = signing_keys()
    register(data_dir, site_ids, rsa, ec)
    server = start_server(data_dir)
    observation_ids = load_data(site_ids, server, rsa)
    return SmartSite(
        server=server,
        patient_id=site_ids["patient"],
        other_patient_id=site_ids["other_patient"],
        practitioner_id=site_ids["practitioner"],
        observation_ids=observation_ids,
        patient_user=site_ids["patient_user"],
        practitioner_user=site_ids["practitioner_user"],
        app_id=site_ids["app"],
        backend_id=site_ids["backend"],
        rsa=rsa,
        ec=ec,
    )


# -- a browser that fills in the authorization server's forms ----------------------------------


@dataclass
class Form:
    action: str
    method: str
    fields: list[tuple[str, str]] = field(default_factory=list)  # hidden, text, password
    radios: dict[str, list[str]] = field(default_factory=dict)
    buttons: list[tuple[str, str]] = field(default_factory=list)  # named submit buttons

    def names(self) -> set[str]:
        return {name for name, _ in self.fields} | set(self.radios)


class FormParser(HTMLParser):
    """Every <form> of a page with its inputs and named buttons, as a browser would submit
    them."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            method = attributes.get("method", "get").lower()
            self.forms.append(Form(attributes.get("action", ""), method))
            return
        if not self.forms or "name" not in attributes:
            return
        form, name = self.forms[-1], attributes["name"]
        kind = attributes.get("type", "text" if tag == "input" else "submit").lower()
        if tag == "input" and kind == "radio":
            form.radios.setdefault(name, []).append(attributes.get("value", "on"))
        elif tag == "button" or kind == "submit":
            form.buttons.append((name, attributes.get("value", "")))
        elif tag == "input":
            form.fields.append((name, attributes.get("value", "")))


def page_forms(html: str) -> list[Form]:
    parser = FormParser()
    parser.feed(html)
    return parser.forms


@dataclass
class Browser:
    """Follows redirects and fills in the login, patient picker and consent forms until the
    authorization server redirects to the app's redirect URI; returns that URL."""

    http: httpx.Client
    username: str
    password: str = PASSWORD
    patient_name: str | None = None  # what to type into the patient picker
    patient_id: str | None = None  # which patient to choose there
    pages: list[str] = field(default_factory=list)  # the steps seen: login, pick, consent

    def authorize(self, url: str, redirect_uri: str, max_steps: int = 12) -> str:
        response = self.http.get(url)
        for _ in range(max_steps):
            if response.status_code in (301, 302, 303, 307):
                location = urljoin(str(response.url), response.headers["location"])
                if location.startswith(redirect_uri):
                    return location
                response = self.http.get(location)
                continue
            assert response.status_code == 200, f"{response.status_code}: {response.text}"
            form, data = self.fill(page_forms(response.text))
            target = urljoin(str(response.url), form.action)
            if form.method == "post":
                form_type = {"Content-Type": "application/x-www-form-urlencoded"}
                response = self.http.post(target, content=urlencode(data), headers=form_type)
            else:
                response = self.http.get(target, params=urlencode(data))
        raise AssertionError(f"no redirect to {redirect_uri} after {max_steps} steps")

    def fill(self, forms: list[Form]) -> tuple[Form, list[tuple[str, str]]]:
        for form in forms:
            names = form.names()
            if "password" in names:
                self.pages.append("login")
                values = {"username": self.username, "password": self.password}
                return form, [(n, values.get(n, v)) for n, v in form.fields]
            if "patient" in form.radios:
                self.pages.append("pick")
                assert self.patient_id in form.radios["patient"], form.radios
                return form, [*form.fields, ("patient", self.patient_id)]
            if any(name == "decision" for name, _ in form.buttons):
                self.pages.append("consent")
                return form, [*form.fields, ("decision", "approve")]
        for form in forms:  # the picker's search form comes before its results
            if "patient_query" in form.names() and self.patient_name is not None:
                self.pages.append("search")
                query = self.patient_name
                return form, [(n, query if n == "patient_query" else v) for n, v in form.fields]
        raise AssertionError(f"no form to fill in among {forms}")
