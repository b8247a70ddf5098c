"""The three grants medrec offers, on Authlib's, with SMART's rules:

- authorization_code: PKCE S256 for every client (a missing challenge and ``plain`` are
  refused), ``aud`` must be the FHIR base URL, ``launch`` must name a live launch context,
  codes are single use and a replay revokes what the first use obtained;
- refresh_token: rotation (a spent refresh token revokes its family);
- client_credentials: backend services authenticated by ``private_key_jwt``, system/ scopes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from authlib.oauth2.rfc6749 import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    RefreshTokenGrant,
)
from authlib.oauth2.rfc7636 import CodeChallenge

from smart_auth.model import User
from smart_auth.server.authlib_adapter import current, on_loop
from smart_auth.server.client_model import PRIVATE_KEY_JWT, OAuthClient
from smart_auth.server.codes import Approval, AuthorizationCode, LaunchContext
from smart_auth.server.refresh import RefreshGrant
from smart_auth.server.scope_policy import narrower, system_scope

if TYPE_CHECKING:
    from smart_auth.server.authorization_server import SmartAuthorizationServer

TokenResponse = tuple[int, dict[str, Any], list[tuple[str, str]]]
USER_AUTH_METHODS = ["client_secret_basic", "client_secret_post", PRIVATE_KEY_JWT, "none"]
S256 = "S256"


class S256Only(CodeChallenge):  # type: ignore[misc]
    """PKCE as SMART 2 wants it: S256, from every client, confidential ones too."""

    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = [S256]
    DEFAULT_CODE_CHALLENGE_METHOD = S256

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: missing 'code_challenge'.")
        if data.get("code_challenge_method") != S256:
            raise InvalidRequestError("'code_challenge_method' must be S256.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'.")
        super().validate_code_verifier(grant, result)


def _server(grant: Any) -> SmartAuthorizationServer:
    server: SmartAuthorizationServer = grant.server
    return server


def _user(grant: Any, user_id: str) -> User | None:
    user = on_loop(_server(grant).services.users.get(user_id))
    return None if user is None or user.disabled else user


class SmartAuthorizationCodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = USER_AUTH_METHODS

    def validate_authorization_request(self) -> str:
        redirect_uri: str = super().validate_authorization_request()
        data = self.request.payload.data
        state = data.get("state")
        aud = data.get("aud") or ""
        if aud.rstrip("/") != current().audience.rstrip("/"):
            raise InvalidRequestError(
                "'aud' must be this server's FHIR base URL.",
                redirect_uri=redirect_uri,
                state=state,
            )
        self.launch_context: LaunchContext | None = None
        if launch := data.get("launch"):
            self.launch_context = on_loop(_server(self).launches.get(launch))
            if self.launch_context is None:
                raise InvalidRequestError(
                    "Unknown or expired 'launch'.", redirect_uri=redirect_uri, state=state
                )
        return redirect_uri

    def save_authorization_code(self, code: str, request: Any) -> None:
        approval: Approval = request.user
        data = request.payload.data
        on_loop(
            _server(self).codes.save(
                code,
                request.client.get_client_id(),
                data["redirect_uri"],
                data["code_challenge"],
                data["code_challenge_method"],
                approval,
            )
        )

    def query_authorization_code(self, code: str, client: OAuthClient) -> AuthorizationCode | None:
        codes = _server(self).codes
        taken = on_loop(codes.take(code, client.client_id))
        if taken is None and (issued := on_loop(codes.replayed(code))) is not None:
            server = _server(self)
            for jti, exp in issued.access_jtis:
                on_loop(server.services.tokens.revoke_jti(jti, exp))
            if issued.refresh_family:
                on_loop(server.refresh.revoke_family(issued.refresh_family))
        return taken

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        pass  # spent when taken

    def authenticate_user(self, authorization_code: AuthorizationCode) -> User | None:
        return _user(self, authorization_code.approval.user_id)

    def create_token_response(self) -> TokenResponse:
        client: OAuthClient = self.request.client
        code: AuthorizationCode = self.request.authorization_code
        user = self.authenticate_user(code)
        if user is None:
            raise InvalidGrantError("The user of this code can no longer sign in.")
        server = _server(self)
        issued = server.issuer.for_user(
            client.client_id,
            user,
            code.approval.scope,
            code.approval.context,
            nonce=code.approval.nonce,
            may_refresh=client.check_grant_type("refresh_token"),
        )
        access = issued.access
        on_loop(
            server.codes.record_issued(
                code.key, access.jti, issued.access_exp, issued.refresh_family
            )
        )
        return 200, issued.body, self.TOKEN_RESPONSE_HEADER


class SmartRefreshTokenGrant(RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = USER_AUTH_METHODS

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshGrant | None:
        client: OAuthClient = self.request.client
        return on_loop(_server(self).refresh.spend(refresh_token, client.client_id))

    def authenticate_user(self, refresh_token: RefreshGrant) -> User | None:
        return _user(self, refresh_token.user_id)

    def revoke_old_credential(self, refresh_token: RefreshGrant) -> None:
        pass  # spent when presented

    def create_token_response(self) -> TokenResponse:
        grant: RefreshGrant = self.request.refresh_token
        user = self.authenticate_user(grant)
        if user is None:
            raise InvalidGrantError("The user of this token can no longer sign in.")
        requested = self.request.payload.scope
        scope = narrower(requested, grant.scope) if requested else grant.scope
        issued = _server(self).issuer.for_user(
            grant.client_id, user, scope, grant.context, family=grant.family
        )
        return 200, issued.body, self.TOKEN_RESPONSE_HEADER


class BackendServicesGrant(ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = [PRIVATE_KEY_JWT]

    def create_token_response(self) -> TokenResponse:
        client: OAuthClient = self.request.client
        scope = system_scope(self.request.payload.scope or "", client.client.scope)
        if not scope:
            raise InvalidScopeError("Backend services may ask only for allowed system/ scopes.")
        issued = _server(self).issuer.for_system(client.client_id, scope)
        return 200, issued.body, self.TOKEN_RESPONSE_HEADER
