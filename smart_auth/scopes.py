"""SMART scopes (App Launch 2.x, v1 and v2 syntax) turned into permissions.

``patient/Observation.rs?category=laboratory`` → Permission("patient", "Observation", {r, s},
(("category", "laboratory"),)). v1 ``read`` means ``rs``, ``write`` means ``cud``, ``*`` all five.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

from fhir_server.model.resource_types import supported_types

Interaction = str  # one of "c", "r", "u", "d", "s"
ALL_INTERACTIONS = frozenset("cruds")
CONTEXTS = ("patient", "user", "system")
_V1 = {"read": frozenset("rs"), "write": frozenset("cud"), "*": ALL_INTERACTIONS}
_V2 = re.compile(r"c?r?u?d?s?")
_SCOPE = re.compile(r"(patient|user|system)/([A-Za-z]+|\*)\.([a-z*]+)(?:\?(.+))?")
# Scopes that ask for something other than resource access.
NON_RESOURCE_SCOPES = frozenset(
    {
        "openid",
        "fhirUser",
        "profile",
        "launch",
        "launch/patient",
        "launch/encounter",
        "offline_access",
        "online_access",
    }
)


@dataclass(frozen=True, slots=True)
class Permission:
    context: str  # patient | user | system
    rtype: str  # a resource type or "*"
    interactions: frozenset[Interaction]
    query: tuple[tuple[str, str], ...] = ()  # granular: only resources matching this search

    def covers(self, rtype: str, interaction: Interaction) -> bool:
        return interaction in self.interactions and self.rtype in ("*", rtype)


class ScopeError(ValueError):
    """A scope that is not well formed (the authorization server answers invalid_scope)."""


def parse_scope(scope: str) -> Permission | None:
    """One scope; None for the non-resource ones (openid, launch, offline_access, …)."""
    if scope in NON_RESOURCE_SCOPES or scope.startswith("launch:"):
        return None
    match = _SCOPE.fullmatch(scope)
    if match is None:
        raise ScopeError(f"'{scope}' is not a SMART scope")
    context, rtype, verbs, query = match.groups()
    if rtype != "*" and rtype not in supported_types():
        raise ScopeError(f"'{scope}' names an unknown resource type")
    if verbs in _V1:
        if query:
            raise ScopeError(f"'{scope}': v1 scopes take no query")
        interactions = _V1[verbs]
    elif verbs and _V2.fullmatch(verbs):
        interactions = frozenset(verbs)
    else:
        raise ScopeError(f"'{scope}': '{verbs}' is neither v1 (read/write/*) nor v2 (cruds)")
    params = tuple(parse_qsl(query, keep_blank_values=False, strict_parsing=True)) if query else ()
    return Permission(context, rtype, interactions, params)


def parse_scopes(text: str) -> list[Permission]:
    """Every resource permission of a space-separated scope string (non-resource scopes are
    skipped; a malformed scope raises ScopeError)."""
    found: list[Permission] = []
    for scope in text.split():
        try:
            permission = parse_scope(scope)
        except ValueError as error:
            raise ScopeError(str(error)) from None
        if permission is not None:
            found.append(permission)
    return found


def well_formed(text: str) -> bool:
    try:
        parse_scopes(text)
    except ScopeError:
        return False
    return True
