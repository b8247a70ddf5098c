"""The one dependency every FHIR route has: who is asking, and the repository as they may use
it. Routes reach data only through ``fhir_server.api.context.services(request)``, which refuses
to answer for a request this dependency did not see."""

from __future__ import annotations

import dataclasses
import logging

from starlette.requests import Request

from fhir_server.api.context import Services, code_sets, fhir_base
from fhir_server.errors import Forbidden, Unauthorized
from smart_auth.access import Access, unrestricted
from smart_auth.guard import GuardedRepository
from smart_auth.services import auth_services
from smart_auth.tokens import Grant

log = logging.getLogger(__name__)


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("The Authorization header must be 'Bearer <token>'", "invalid_request")
    return token.strip()


async def access_of(request: Request) -> Access:
    """The request's access: from its bearer token, or everything when authorization is off."""
    existing: Access | None = getattr(request.state, "access", None)
    if existing is not None:
        return existing
    auth = auth_services(request)
    if not auth.enabled:
        access = unrestricted()
    else:
        token = bearer_token(request)
        if token is None:
            raise Unauthorized("This request needs an access token", "invalid_request")
        access = Access.of(await auth.tokens.check(token, fhir_base(request)))
    request.state.access = access
    return access


async def authorize(request: Request) -> None:
    """Router dependency of every FHIR route."""
    access = await access_of(request)
    base: Services = request.app.state.services
    repository = GuardedRepository(base.repository, access, code_sets(request))
    request.state.services = dataclasses.replace(base, repository=repository)


async def require_admin(request: Request) -> Grant | None:
    """Admin API routes: an admin user's token (None when authorization is off)."""
    access = await access_of(request)
    if not access.admin:
        raise Forbidden("This needs an administrator")
    return access.grant


async def require_system_writer(request: Request, types: frozenset[str]) -> None:
    """Feeds that write on no patient's behalf (HL7 v2, say): administrators, or a
    backend-services client whose system/ scopes allow creating and updating every one of
    ``types``."""
    access = await access_of(request)
    if access.admin:
        return
    if access.system and all(
        access.allows(rtype, verb) for rtype in sorted(types) for verb in ("c", "u")
    ):
        return
    raise Forbidden(
        f"This feed needs system/ scopes to create and update {', '.join(sorted(types))}"
    )


async def require_system_export(request: Request) -> None:
    """Bulk export: admins, or backend-services clients with system/ scopes."""
    access = await access_of(request)
    if access.admin:
        return
    if access.system and any(p.context == "system" for p in access.permissions):
        return
    raise Forbidden("Bulk export needs an administrator or a system/ scope")
