"""TOTP second factor (RFC 6238: 6 digits, 30-second steps, SHA-1, what authenticator apps
expect). A code is accepted one step early or late (clock drift) and at most once: the caller
records the step of the last code used and refuses any step not after it."""

from __future__ import annotations

import time

import pyotp
from pyotp.utils import strings_equal

ISSUER = "medrec"
DRIFT_STEPS = 1  # pyotp's valid_window=1


def new_secret() -> str:
    """A fresh base32 secret (160 bits)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, username: str) -> str:
    """The ``otpauth://totp/…`` URI an authenticator app scans (as a QR code) or imports."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step whose code ``code`` is (within the drift window), else None."""
    code = code.strip().replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(time.time() if now is None else now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if strings_equal(totp.generate_otp(step), code):
            return step
    return None


def code_at(secret: str, when: float) -> str:
    """The code an authenticator shows at ``when`` (demo output and tests)."""
    return pyotp.TOTP(secret).at(when)
