"""The error for account data that is not acceptable: an OperationOutcome naming the field."""

from __future__ import annotations

from fhir_server.errors import Invalid, Issue


def invalid(field: str, message: str) -> Invalid:
    return Invalid(message, [Issue("invalid", message, expression=(field,))])
