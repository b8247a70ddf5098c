"""medrec's Authlib AuthorizationServer: the grants, client authentication and stores, one per
app, created on first use."""

from __future__ import annotations

import asyncio
from typing import Any

from authlib.oauth2.rfc6749 import AuthorizationServer, InvalidScopeError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from smart_auth.scopes import well_formed
from smart_auth.server.assertions import AssertionJtis, PrivateKeyJwt
from smart_auth.server.authlib_adapter import StarletteOAuth2Request, on_loop
from smart_auth.server.client_model import PRIVATE_KEY_JWT, OAuthClient
from smart_auth.server.codes import AuthorizationCodes
from smart_auth.server.grants import (
    BackendServicesGrant,
    S256Only,
    SmartAuthorizationCodeGrant,
    SmartRefreshTokenGrant,
)
from smart_auth.server.issue import TokenIssuer
from smart_auth.server.launch import LaunchContexts
from smart_auth.server.refresh import RefreshTokens
from smart_auth.server.sessions import LoginSessions
from smart_auth.services import AuthServices, auth_services

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class SmartAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, services: AuthServices, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        settings = services.settings
        self.services = services
        self.loop = loop
        self.codes = AuthorizationCodes(services.db)
        self.refresh = RefreshTokens(
            services.db,
            services.tokens,
            settings.online_refresh_lifetime_s,
            settings.offline_refresh_lifetime_s,
        )
        self.launches = LaunchContexts(services.db)
        self.sessions = LoginSessions(services.db, settings.session_idle_timeout_s)
        self.jtis = AssertionJtis(services.db)
        self.issuer = TokenIssuer(services.tokens, services.key, self.refresh)
        self.register_grant(SmartAuthorizationCodeGrant, [S256Only(required=True)])
        self.register_grant(SmartRefreshTokenGrant)
        self.register_grant(BackendServicesGrant)
        self.register_client_auth_method(PRIVATE_KEY_JWT, PrivateKeyJwt(self.jtis))

    async def ensure_indexes(self) -> None:
        for store in (self.codes, self.refresh, self.launches, self.sessions, self.jtis):
            await store.ensure_indexes()

    def query_client(self, client_id: str) -> OAuthClient | None:
        store = self.services.clients
        client = on_loop(store.get(client_id))
        if client is None or client.disabled:
            return None
        return OAuthClient(client, store)

    def create_oauth2_request(self, request: StarletteOAuth2Request) -> StarletteOAuth2Request:
        return request  # built by the route, which read the body (async) beforehand

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        pass  # access tokens are self-contained; refresh tokens are saved when issued

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass

    def validate_requested_scope(self, scope: str | None) -> None:
        if scope and not well_formed(scope):
            raise InvalidScopeError("The scope is not made of SMART scopes.")

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
        extra = {**dict(headers), **NO_STORE}
        if isinstance(body, dict):
            extra.pop("Content-Type", None)
            return JSONResponse(body, status, extra)
        return Response(body or b"", status, extra)


async def authorization_server(request: Request) -> SmartAuthorizationServer:
    """The app's server, made on first use (for the running event loop)."""
    loop = asyncio.get_running_loop()
    server: SmartAuthorizationServer | None = getattr(request.app.state, "smart_server", None)
    if server is None or server.loop is not loop:
        server = SmartAuthorizationServer(auth_services(request), loop)
        await server.ensure_indexes()
        request.app.state.smart_server = server
    return server
