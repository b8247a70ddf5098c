"""``/auth/authorize``: validate the request (Authlib), then log in, pick a patient when the
app asks for ``launch/patient`` without a launch context, ask for consent, and redirect back
with a code — or with an error, once the redirect URI is known to be the client's.

Our pages carry the OAuth parameters as hidden fields: every POST is validated afresh."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import InvalidScopeError, OAuth2Error
from starlette.requests import Request
from starlette.responses import Response

from smart_auth.accounts.users import LoginFailed
from smart_auth.audit.events import login_event
from smart_auth.model import User
from smart_auth.server import pages
from smart_auth.server.authlib_adapter import RequestContext, StarletteOAuth2Request, in_thread
from smart_auth.server.authorization_server import SmartAuthorizationServer
from smart_auth.server.client_model import OAuthClient
from smart_auth.server.codes import Approval, LaunchContext
from smart_auth.server.csrf import CSRF_FIELD, csrf_ok, csrf_token, set_csrf_cookie
from smart_auth.server.grants import SmartAuthorizationCodeGrant
from smart_auth.server.issue import own_patient
from smart_auth.server.patients import app_repository, find_patients, patient_exists
from smart_auth.server.scope_policy import has, user_scope
from smart_auth.services import auth_services

PICKED_FIELD = "medrec_patient"
# Fields of our own pages, never part of the OAuth request carried through them.
UI_FIELDS = frozenset(
    {
        CSRF_FIELD,
        pages.STEP_FIELD,
        PICKED_FIELD,
        "username",
        "password",
        "totp",
        "decision",
        "patient",
        "patient_query",
    }
)
Params = list[tuple[str, str]]


def split(items: Params) -> tuple[Params, dict[str, str]]:
    """(the OAuth parameters, our pages' fields)."""
    original = [(name, value) for name, value in items if name not in UI_FIELDS]
    form: dict[str, str] = {}
    for name, value in items:
        if name in UI_FIELDS:
            form.setdefault(name, value)
    return original, form


def oauth_error(server: SmartAuthorizationServer, error: OAuth2Error) -> Response:
    """RFC 6749 §4.1.2.1: redirect with the error only to a redirect URI known to be the
    client's; otherwise tell the person."""
    if error.redirect_uri:
        response: Response = server.handle_response(*error())
        return response
    return pages.error_page(str(error.description or error.error))


async def authorize(
    request: Request,
    server: SmartAuthorizationServer,
    context: RequestContext,
    oauth: StarletteOAuth2Request,
    form: dict[str, str],
) -> Response:
    try:
        grant: SmartAuthorizationCodeGrant = await in_thread(
            context, server.get_consent_grant, oauth
        )
    except OAuth2Error as error:
        return oauth_error(server, error)
    csrf, new_csrf = csrf_token(request)
    step = form.get(pages.STEP_FIELD)
    if step and not csrf_ok(request, form.get(CSRF_FIELD)):
        return pages.error_page("This form has expired: go back to the app and start again.", 403)
    client: OAuthClient = grant.request.client
    original = _carried(oauth)
    user = await _session_user(server, request)
    new_session = None
    if user is None:
        failure = None
        if step == "login":
            username = form.get("username", "")
            try:
                user = await auth_services(request).users.authenticate(
                    username, form.get("password", ""), form.get("totp") or None
                )
            except LoginFailed as failed:
                failure = failed.reason
            await _audit_login(request, username, user, client.client.client_id, failure)
        if user is None:
            response: Response = pages.login_page(client.client.name, original, csrf, failure)
            return _with_csrf(response, request, csrf, new_csrf)
        new_session = await server.sessions.start(user.id)
        step = None
    response = await _authorized(server, context, grant, user, request, form, step, csrf)
    if new_session is not None:
        server.sessions.set_cookie(response, request, new_session)
    return _with_csrf(response, request, csrf, new_csrf)


async def _audit_login(
    request: Request, username: str, user: User | None, client_id: str, failure: str | None
) -> None:
    """Every login attempt, successful or not, goes on the audit trail before it is answered."""
    address = request.client.host if request.client else None
    fhir_user = user.fhir_user if user is not None else None
    event = login_event(username, fhir_user, client_id, address, failure)
    await request.app.state.audit.record(event)


async def _authorized(
    server: SmartAuthorizationServer,
    context: RequestContext,
    grant: SmartAuthorizationCodeGrant,
    user: User,
    request: Request,
    form: dict[str, str],
    step: str | None,
    csrf: str,
) -> Response:
    """The user is known: the launch context, then consent, then the code."""
    oauth: StarletteOAuth2Request = grant.request
    client: OAuthClient = oauth.client
    original = _carried(oauth)
    scope = user_scope(oauth.payload.scope or "", client.client.scope, user.role)
    if not scope:
        state = oauth.payload.state
        nothing = InvalidScopeError(redirect_uri=grant.redirect_uri, state=state)
        return oauth_error(server, nothing)
    launch: LaunchContext | None = grant.launch_context
    if user.role == "patient":
        own = own_patient(user)
        if own is None:
            return pages.error_page("Your account is not linked to a patient record.", 403)
        same = launch is not None and launch.patient == own
        chosen = LaunchContext(own, launch.encounter if launch and same else None)
    elif launch is not None:
        chosen = launch
    elif has(scope, "launch/patient"):
        picked = form.get(PICKED_FIELD) or (form.get("patient") if step == "picked" else None)
        repository = app_repository(request)
        if not picked or not await patient_exists(repository, picked):
            query = form.get("patient_query", "").strip()
            found = await find_patients(repository, query) if query else []
            return pages.patient_picker(original, csrf, query, found)
        chosen = LaunchContext(picked)
        original.append((PICKED_FIELD, picked))
    else:
        chosen = LaunchContext(need_patient_banner=False)
    if step != "consent":
        name = client.client.name
        return pages.consent_page(name, scope.split(), original, csrf, chosen.patient)
    approval = None
    if form.get("decision") == "approve":
        approval = Approval(user.id, scope, chosen, oauth.payload.data.get("nonce"))
    response: Response = await in_thread(
        context, server.create_authorization_response, oauth, approval, grant
    )
    return response


async def _session_user(server: SmartAuthorizationServer, request: Request) -> User | None:
    user_id = await server.sessions.user_of(request)
    if user_id is None:
        return None
    user = await auth_services(request).users.get(user_id)
    return None if user is None or user.disabled else user


def _carried(oauth: StarletteOAuth2Request) -> Params:
    return [(name, v) for name, values in oauth.payload.datalist.items() for v in values]


def _with_csrf(response: Response, request: Request, csrf: str, new: bool) -> Response:
    if new:
        set_csrf_cookie(response, request, csrf)
    return response
