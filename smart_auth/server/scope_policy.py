"""Which of the requested scopes are granted.

Granted = requested ∩ what the client may ask for (``Client.scope``, v1 or v2 syntax: a
requested resource scope is granted when one allowed scope covers it — same context, same or
``*`` type, at least its interactions, no narrower query), then narrowed by who is asking:

- a patient-role user never gets ``user/`` or ``system/`` scopes: ``user/X.rs`` becomes
  ``patient/X.rs`` (the same access, confined to their own compartment), ``system/`` ones
  are dropped;
- people never get ``system/`` scopes (those belong to backend services);
- backend services (client_credentials) get ``system/`` scopes only.
"""

from __future__ import annotations

from smart_auth.scopes import NON_RESOURCE_SCOPES, Permission, ScopeError, parse_scope

SYSTEM_SCOPE_PREFIX = "system/"


def _permission(scope: str) -> Permission | None:
    try:
        return parse_scope(scope)
    except (ScopeError, ValueError):
        return None


def _covers(allowed: Permission, wanted: Permission) -> bool:
    return (
        allowed.context == wanted.context
        and allowed.rtype in ("*", wanted.rtype)
        and wanted.interactions <= allowed.interactions
        and (not allowed.query or allowed.query == wanted.query)
    )


def _allowed_by_client(scope: str, client_scope: str) -> bool:
    registered = client_scope.split()
    if scope in registered:
        return True
    if scope in NON_RESOURCE_SCOPES or scope.startswith("launch"):
        return False
    wanted = _permission(scope)
    if wanted is None:
        return False
    allowed = (p for p in map(_permission, registered) if p is not None)
    return any(_covers(permission, wanted) for permission in allowed)


def _as_patient(scope: str) -> str | None:
    if scope.startswith("user/"):
        return "patient/" + scope.removeprefix("user/")
    if scope.startswith(SYSTEM_SCOPE_PREFIX):
        return None
    return scope


def _unique(scopes: list[str]) -> str:
    return " ".join(dict.fromkeys(scopes))


def user_scope(requested: str, client_scope: str, role: str) -> str:
    """The scopes a person (``role``) grants an app through the authorization code flow."""
    granted = [s for s in requested.split() if _allowed_by_client(s, client_scope)]
    granted = [s for s in granted if not s.startswith(SYSTEM_SCOPE_PREFIX)]
    if role == "patient":
        granted = [p for p in map(_as_patient, granted) if p is not None]
    return _unique(granted)


def system_scope(requested: str, client_scope: str) -> str:
    """The scopes a backend service gets with client_credentials: system/ ones only."""
    return _unique(
        [
            s
            for s in requested.split()
            if s.startswith(SYSTEM_SCOPE_PREFIX) and _allowed_by_client(s, client_scope)
        ]
    )


def narrower(requested: str, granted: str) -> str:
    """A refresh may ask for a subset of what was granted: the part of ``requested`` the
    earlier grant covers."""
    return _unique([s for s in requested.split() if _allowed_by_client(s, granted)])


def has(scope: str, name: str) -> bool:
    return name in scope.split()
