"""The HTML the authorization server shows people: login, patient picker, consent, errors.

Server-rendered, every value escaped, every form carrying the CSRF token and the original
authorization request (as hidden fields, re-validated on every POST)."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from starlette.responses import HTMLResponse

from smart_auth.scopes import ScopeError, parse_scope
from smart_auth.server.csrf import CSRF_FIELD

AUTHORIZE_ACTION = "/auth/authorize"
STEP_FIELD = "medrec_step"
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}"
    "label{display:block;margin:.8rem 0 .2rem}input[type=text],input[type=password]"
    "{width:100%;padding:.4rem}button{margin:1rem .5rem 0 0;padding:.5rem 1rem}"
    ".error{color:#a00}li{margin:.3rem 0}"
)
_VERBS = {"c": "create", "r": "read", "u": "update", "d": "delete", "s": "search"}
_WHOSE = {
    "patient": "the patient's",
    "user": "every record you can see:",
    "system": "all",
}
_SPECIAL = {
    "openid": "Know who you are (your identity)",
    "fhirUser": "Know which FHIR record describes you",
    "profile": "Know who you are (your profile)",
    "launch": "Open in the context of the record you are looking at",
    "launch/patient": "Choose which patient's record to open",
    "launch/encounter": "Open in the context of an encounter",
    "offline_access": "Keep access after you log out, until you revoke it",
    "online_access": "Keep access while you are logged in",
}

Hidden = Iterable[tuple[str, str]]


def describe_scope(scope: str) -> str:
    """A scope in plain words."""
    if scope in _SPECIAL:
        return _SPECIAL[scope]
    try:
        permission = parse_scope(scope)
    except (ScopeError, ValueError):
        return scope
    if permission is None:
        return scope
    verbs = ", ".join(_VERBS[v] for v in "cruds" if v in permission.interactions)
    what = "all kinds of records" if permission.rtype == "*" else f"{permission.rtype} records"
    text = f"{verbs.capitalize()} {_WHOSE[permission.context]} {what}"
    if permission.query:
        text += " where " + ", ".join(f"{name} is {value}" for name, value in permission.query)
    return text


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · medrec</title><style>{STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(html, status, HEADERS)


def _form(step: str, hidden: Hidden, csrf: str, fields: str) -> str:
    inputs = "".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
        for name, value in hidden
    )
    return (
        f'<form method="post" action="{AUTHORIZE_ACTION}">{inputs}'
        f'<input type="hidden" name="{CSRF_FIELD}" value="{escape(csrf)}">'
        f'<input type="hidden" name="{STEP_FIELD}" value="{escape(step)}">{fields}</form>'
    )


def _error(message: str | None) -> str:
    return f'<p class="error" role="alert">{escape(message)}</p>' if message else ""


def login_page(
    client_name: str, hidden: Hidden, csrf: str, error: str | None = None
) -> HTMLResponse:
    fields = (
        '<label for="username">Username</label>'
        '<input type="text" id="username" name="username" autocomplete="username" required>'
        '<label for="password">Password</label>'
        '<input type="password" id="password" name="password" '
        'autocomplete="current-password" required>'
        '<label for="totp">Authenticator code (if you use one)</label>'
        '<input type="text" id="totp" name="totp" inputmode="numeric" '
        'autocomplete="one-time-code">'
        '<button type="submit">Log in</button>'
    )
    intro = f"<p>{escape(client_name)} asks to use your medrec records.</p>"
    status = 401 if error else 200
    return _page("Log in", intro + _error(error) + _form("login", hidden, csrf, fields), status)


def patient_picker(
    hidden: Hidden, csrf: str, query: str, patients: list[tuple[str, str]]
) -> HTMLResponse:
    search = (
        '<label for="q">Find a patient by name</label>'
        f'<input type="text" id="q" name="patient_query" value="{escape(query)}">'
        '<button type="submit">Search</button>'
    )
    body = _form("pick", hidden, csrf, search)
    if patients:
        choices = "".join(
            f'<li><label><input type="radio" name="patient" value="{escape(pid)}" required> '
            f"{escape(label)}</label></li>"
            for pid, label in patients
        )
        fields = f'<ul>{choices}</ul><button type="submit">Open this patient</button>'
        body += _form("picked", hidden, csrf, fields)
    elif query:
        body += "<p>No patient matches.</p>"
    return _page("Choose a patient", body)


def consent_page(
    client_name: str, scopes: list[str], hidden: Hidden, csrf: str, patient: str | None
) -> HTMLResponse:
    items = "".join(f"<li>{escape(describe_scope(scope))}</li>" for scope in scopes)
    about = f"<p>For patient record {escape(patient)}.</p>" if patient else ""
    fields = (
        '<button type="submit" name="decision" value="approve">Allow</button>'
        '<button type="submit" name="decision" value="deny">Deny</button>'
    )
    body = f"<p><strong>{escape(client_name)}</strong> asks to:</p><ul>{items}</ul>{about}" + _form(
        "consent", hidden, csrf, fields
    )
    return _page("Allow access?", body)


def error_page(message: str, status: int = 400) -> HTMLResponse:
    return _page("Cannot continue", _error(message), status)
