"""The token response: the one place access, refresh and id tokens are issued.

Synchronous: it runs in Authlib's worker thread and reaches the stores through ``on_loop``.
A patient-role user's tokens always carry their own Patient as ``patient``."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

from joserfc.jwk import RSAKey

from smart_auth.model import User
from smart_auth.server.authlib_adapter import current, on_loop
from smart_auth.server.codes import LaunchContext
from smart_auth.server.id_token import id_token
from smart_auth.server.refresh import RefreshGrant, RefreshTokens
from smart_auth.server.scope_policy import has
from smart_auth.tokens import Grant, Minted, Tokens


@dataclass(frozen=True, slots=True)
class Issued:
    body: dict[str, Any]
    access: Minted
    access_exp: int  # when the access token expires (epoch seconds)
    refresh_family: str | None


def own_patient(user: User) -> str | None:
    """The Patient id of a patient-role user (``fhirUser`` = ``Patient/{id}``)."""
    if user.fhir_user and user.fhir_user.startswith("Patient/"):
        return user.fhir_user.removeprefix("Patient/")
    return None


class TokenIssuer:
    def __init__(self, tokens: Tokens, key: RSAKey, refresh: RefreshTokens) -> None:
        self.tokens = tokens
        self.key = key
        self.refresh = refresh

    def for_user(
        self,
        client_id: str,
        user: User,
        scope: str,
        context: LaunchContext,
        *,
        nonce: str | None = None,
        family: str | None = None,
        may_refresh: bool = True,
    ) -> Issued:
        """Tokens for an app acting for ``user``. ``family``: the refresh token family being
        rotated (None: a new authorization)."""
        if user.role == "patient":
            context = replace(context, patient=own_patient(user))
        ctx = current()
        grant = Grant(
            subject=user.id,
            client_id=client_id,
            scope=scope,
            role=user.role,
            fhir_user=user.fhir_user,
            patient=context.patient,
            encounter=context.encounter,
        )
        access = self.tokens.mint(grant, issuer=ctx.issuer, audience=ctx.audience)
        access_exp = int(time.time()) + access.expires_in
        body = _bearer(access, scope)
        body.update(_context_fields(context, ctx.style_url))
        offline = has(scope, "offline_access")
        if may_refresh and (offline or has(scope, "online_access")):
            family = family or uuid.uuid4().hex
            refresh = RefreshGrant(family, client_id, user.id, scope, context, offline)
            body["refresh_token"] = on_loop(self.refresh.issue(refresh, access.jti, access_exp))
        else:
            family = None
        if has(scope, "openid"):
            body["id_token"] = id_token(
                self.key,
                issuer=ctx.issuer,
                client_id=client_id,
                user=user,
                fhir_user=user.fhir_user if has(scope, "fhirUser") else None,
                nonce=nonce,
            )
        return Issued(body, access, access_exp, family)

    def for_system(self, client_id: str, scope: str) -> Issued:
        """Backend services: the client acts for itself."""
        ctx = current()
        grant = Grant(subject=client_id, client_id=client_id, scope=scope)
        access = self.tokens.mint(grant, issuer=ctx.issuer, audience=ctx.audience)
        return Issued(_bearer(access, scope), access, int(time.time()) + access.expires_in, None)


def _bearer(access: Minted, scope: str) -> dict[str, Any]:
    return {
        "access_token": access.token,
        "token_type": "Bearer",
        "expires_in": access.expires_in,
        "scope": scope,
    }


def _context_fields(context: LaunchContext, style_url: str) -> dict[str, Any]:
    fields: dict[str, Any] = {"fhirContext": []}
    if context.patient:
        fields["patient"] = context.patient
        fields["need_patient_banner"] = context.need_patient_banner
    if context.encounter:
        fields["encounter"] = context.encounter
        fields["fhirContext"] = [{"reference": f"Encounter/{context.encounter}"}]
    fields["smart_style_url"] = style_url
    return fields
