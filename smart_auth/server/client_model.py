"""Our ``Client`` as Authlib's ClientMixin: which redirect URIs, grant types and ways of
authenticating at the token endpoint each kind of client has."""

from __future__ import annotations

from smart_auth.accounts.clients import ClientStore
from smart_auth.model import Client
from smart_auth.server.authlib_adapter import on_loop

PRIVATE_KEY_JWT = "private_key_jwt"
AUTH_METHODS = {
    "public": ("none",),
    "confidential-symmetric": ("client_secret_basic", "client_secret_post"),
    "confidential-asymmetric": (PRIVATE_KEY_JWT,),
}


class OAuthClient:
    def __init__(self, client: Client, store: ClientStore) -> None:
        self.client = client
        self.store = store

    @property
    def client_id(self) -> str:
        return self.client.client_id

    @property
    def confidential(self) -> bool:
        return self.client.kind != "public"

    def get_client_id(self) -> str:
        return self.client.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None  # SMART apps always send redirect_uri

    def get_allowed_scope(self, scope: str | None) -> str:
        # The real narrowing (client, role, compartment) happens once the user is known:
        # see scope_policy.
        return scope or ""

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.client.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        if self.client.kind != "confidential-symmetric":
            return False
        return on_loop(self.store.verify_secret(self.client, client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in AUTH_METHODS[self.client.kind]

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.client.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.client.grant_types
