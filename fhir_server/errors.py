"""Errors with a FHIR meaning. Raised anywhere, turned into an OperationOutcome in one place
(``fhir_server.api.errors``)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Issue:
    """One OperationOutcome.issue: severity, code (issue-type value set), text, element paths."""

    code: str
    diagnostics: str
    severity: str = "error"
    expression: tuple[str, ...] = ()


@dataclass
class FhirError(Exception):
    """Base class: an HTTP status plus the issues that explain it."""

    message: str
    issues: list[Issue] = field(default_factory=list)
    status: int = 400
    code: str = "processing"
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def all_issues(self) -> list[Issue]:
        return self.issues or [Issue(code=self.code, diagnostics=self.message)]


class Invalid(FhirError):
    def __init__(self, message: str, issues: list[Issue] | None = None, status: int = 400) -> None:
        super().__init__(message, issues or [], status, "invalid")


class Unprocessable(FhirError):
    """Syntactically fine but fails validation rules (FHIR uses 422 for these)."""

    def __init__(self, message: str, issues: list[Issue] | None = None) -> None:
        super().__init__(message, issues or [], 422, "processing")


class NotFound(FhirError):
    def __init__(self, message: str) -> None:
        super().__init__(message, [], 404, "not-found")


class Gone(FhirError):
    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message, [], 410, "deleted", headers or {})


class Conflict(FhirError):
    def __init__(self, message: str) -> None:
        super().__init__(message, [], 409, "conflict")


class PreconditionFailed(FhirError):
    def __init__(self, message: str) -> None:
        super().__init__(message, [], 412, "conflict")


class NotSupported(FhirError):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message, [], status, "not-supported")


class TooLarge(FhirError):
    def __init__(self, message: str, status: int = 413) -> None:
        super().__init__(message, [], status, "too-costly")


class Unauthorized(FhirError):
    """No usable access token: 401 with a Bearer challenge (RFC 6750)."""

    def __init__(self, message: str, error: str = "invalid_token") -> None:
        challenge = f'Bearer realm="medrec", error="{error}"'
        super().__init__(message, [], 401, "login", {"WWW-Authenticate": challenge})


class Forbidden(FhirError):
    def __init__(self, message: str) -> None:
        super().__init__(message, [], 403, "forbidden")


class Unavailable(FhirError):
    """Not now: try again shortly (503 with Retry-After)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, [], 503, "transient", {"Retry-After": "5"})
