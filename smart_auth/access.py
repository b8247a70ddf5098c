"""What one request may see and do, worked out from its access token.

For a resource type and an interaction, an ``Access`` answers with the ways a resource can be
visible (``Alternative``): in a given patient's compartment, matching a granular scope's query,
or both. No alternative: not allowed at all. ``EVERYTHING``: no restriction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from fhir_server.model.compartments import compartment_types
from smart_auth.scopes import ALL_INTERACTIONS, Interaction, Permission, parse_scopes
from smart_auth.tokens import Grant

# Only admins read the audit trail. Nobody changes or deletes an AuditEvent through the API;
# an admin may add one (another system's record: stored as sent, outside the server's chain).
ADMIN_ONLY_TYPES = frozenset({"AuditEvent"})
APPEND_ONLY_TYPES = frozenset({"AuditEvent"})


@dataclass(frozen=True, slots=True)
class Alternative:
    patient: str | None = None  # the resource must be in this patient's compartment
    query: tuple[tuple[str, str], ...] = ()  # … and match this search


EVERYTHING = (Alternative(),)


@cache
def _compartment_types() -> frozenset[str]:
    return frozenset(compartment_types())


@dataclass
class Access:
    grant: Grant | None  # None: authorization is off
    permissions: tuple[Permission, ...] = ()
    # What the request touched, for its AuditEvent: (type, id) of resources read or written.
    touched: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def of(cls, grant: Grant) -> Access:
        return cls(grant, tuple(parse_scopes(grant.scope)))

    @property
    def admin(self) -> bool:
        return self.grant is None or self.grant.role == "admin"

    @property
    def system(self) -> bool:
        """A backend-services client acting for itself (SMART system/ scopes, no user)."""
        return self.grant is not None and self.grant.role is None

    def alternatives(self, rtype: str, interaction: Interaction) -> tuple[Alternative, ...]:
        if interaction not in ALL_INTERACTIONS:
            raise ValueError(interaction)
        if rtype in APPEND_ONLY_TYPES and interaction in "ud":
            return ()
        if self.grant is None:
            return EVERYTHING
        if rtype in ADMIN_ONLY_TYPES and not self.admin:
            return ()
        found: list[Alternative] = []
        for permission in self.permissions:
            if not permission.covers(rtype, interaction):
                continue
            patient = self._bound_patient(permission)
            if patient == "":
                continue  # a patient/ scope without a patient: grants nothing
            if rtype not in _compartment_types():
                patient = None  # Practitioner, Medication, …: no patient's own data
            alternative = Alternative(patient, permission.query)
            if alternative == Alternative():
                return EVERYTHING
            if alternative not in found:
                found.append(alternative)
        return tuple(found)

    def _bound_patient(self, permission: Permission) -> str | None:
        """The compartment a permission is bound to: a patient user's own always, the launch
        patient for patient/ scopes; "" when it needs one and there is none."""
        assert self.grant is not None
        if self.grant.role == "patient" or permission.context == "patient":
            return self.grant.patient or ""
        return None

    def allows(self, rtype: str, interaction: Interaction) -> bool:
        return bool(self.alternatives(rtype, interaction))


def unrestricted() -> Access:
    """Authorization off (MEDREC_AUTH=off, local development)."""
    return Access(None)
