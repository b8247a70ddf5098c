"""Where the authorization server lives. The issuer is the FHIR base URL: SMART clients find
``{fhir base}/.well-known/smart-configuration`` and OpenID clients
``{issuer}/.well-known/openid-configuration``, so both sit under the same URL."""

from __future__ import annotations

from starlette.requests import Request

from fhir_server.api.context import FHIR_PATH, fhir_base

AUTH_PATH = "/auth"


def issuer(request: Request) -> str:
    return fhir_base(request)


def public_root(request: Request) -> str:
    """The public origin (and path prefix) the FHIR base is mounted under."""
    base = fhir_base(request)
    return base[: -len(FHIR_PATH)] if base.endswith(FHIR_PATH) else base


def auth_url(request: Request, name: str) -> str:
    return f"{public_root(request)}{AUTH_PATH}/{name}"


def token_url(request: Request) -> str:
    """The token endpoint: the only ``aud`` a client assertion may carry."""
    return auth_url(request, "token")


def is_https(request: Request) -> bool:
    return fhir_base(request).startswith("https://")
