"""Logical ids: the FHIR id syntax, and new server-assigned ids."""

from __future__ import annotations

import re
import uuid

from fhir_server.errors import Invalid

ID_PATTERN = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def check_id(value: str, what: str = "id") -> str:
    if not ID_PATTERN.fullmatch(value):
        raise Invalid(
            f"{what} {value[:80]!r} is not a valid FHIR id (1-64 characters of A-Z, a-z, 0-9, "
            "'-' and '.')"
        )
    return value


def check_version_id(value: str) -> int:
    if not value.isdigit() or len(value) > 12:
        raise Invalid(f"version id {value[:40]!r} is not a version of this server")
    return int(value)


def new_id() -> str:
    return str(uuid.uuid4())
