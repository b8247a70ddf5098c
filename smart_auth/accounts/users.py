"""Users: people who log in with a username, a password and (admins always, others by choice) a
TOTP code. Failed logins are counted; too many in a row lock the account for a while."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import replace
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from fhir_server.config import Settings
from fhir_server.errors import Conflict
from smart_auth.accounts.invalid import invalid
from smart_auth.accounts.passwords import hash_password, spend_verification, verify_password
from smart_auth.accounts.totp import matching_step, new_secret, provisioning_uri
from smart_auth.model import ROLES, Role, User

USERS_COLLECTION = "auth_users"
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{1,63}")
_FHIR_USER = re.compile(r"(Patient|Practitioner)/[A-Za-z0-9\-.]{1,64}")

WRONG_CREDENTIALS = "wrong username or password"
ACCOUNT_LOCKED = "account locked"
SECOND_FACTOR_REQUIRED = "second factor required"
WRONG_SECOND_FACTOR = "wrong second factor"
ACCOUNT_DISABLED = "account disabled"


class LoginFailed(Exception):
    """A login refused; ``reason`` is safe to show to the person logging in."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def normalize_username(username: str) -> str:
    """Usernames compare case-insensitively: "Alice" and "alice" are one account."""
    return username.strip().lower()


class UserStore:
    def __init__(self, db: AsyncDatabase[Any], settings: Settings) -> None:
        self.users = db[USERS_COLLECTION]
        self.max_failures = settings.login_max_failures
        self.lockout_s = settings.login_lockout_s

    async def ensure_indexes(self) -> None:
        await self.users.create_index("username", unique=True)

    async def add(
        self,
        username: str,
        password: str,
        role: Role,
        fhir_user: str | None = None,
        *,
        totp: bool = False,
    ) -> tuple[User, str | None]:
        """Create a user; also return the TOTP provisioning URI (shown once) when the user has
        a second factor: admins always do. Raises Invalid, or Conflict for a taken username."""
        username = normalize_username(username)
        _check_new_user(username, password, role, fhir_user)
        secret = new_secret() if totp or role == "admin" else None
        document = {
            "_id": uuid.uuid4().hex,
            "username": username,
            "role": role,
            "fhir_user": fhir_user,
            "password_hash": await hash_password(password),
            "totp_secret": secret,
            "totp_last_step": -1,
            "disabled": False,
            "failed_logins": 0,
            "locked_until": None,
            "created": time.time(),
        }
        try:
            await self.users.insert_one(document)
        except DuplicateKeyError:
            raise Conflict(f"The username '{username}' is taken") from None
        uri = None if secret is None else provisioning_uri(secret, username)
        return _user(document), uri

    async def get(self, user_id: str) -> User | None:
        found = await self.users.find_one({"_id": user_id})
        return None if found is None else _user(found)

    async def by_username(self, username: str) -> User | None:
        found = await self.users.find_one({"username": normalize_username(username)})
        return None if found is None else _user(found)

    async def list(self) -> list[User]:
        return [_user(found) async for found in self.users.find({}).sort("username", 1)]

    async def disable(self, username: str) -> bool:
        """False when there is no such user."""
        result = await self.users.update_one(
            {"username": normalize_username(username)}, {"$set": {"disabled": True}}
        )
        return result.matched_count == 1

    async def authenticate(self, username: str, password: str, totp_code: str | None) -> User:
        """The user these credentials prove, or LoginFailed. The password is checked before
        anything that would tell whether the account is disabled."""
        user = await self._start_attempt(username, password)
        try:
            await self._check(user, password, totp_code)
        except LoginFailed as failure:
            await self._end_attempt(user, failure.reason)
            raise
        await self._end_attempt(user, None)
        return replace(user, failed_logins=0, locked_until=None)

    async def _start_attempt(self, username: str, password: str) -> User:
        """Count the attempt before checking anything (atomically), so that concurrent guesses
        cannot get past the limit while the first ones are still being checked."""
        now = time.time()
        found = await self.users.find_one_and_update(
            {
                "username": normalize_username(username),
                "$or": [{"locked_until": None}, {"locked_until": {"$lte": now}}],
            },
            {"$inc": {"failed_logins": 1}},
            return_document=ReturnDocument.AFTER,
        )
        if found is None:
            if await self.users.count_documents({"username": normalize_username(username)}):
                raise LoginFailed(ACCOUNT_LOCKED)
            await spend_verification(password)
            raise LoginFailed(WRONG_CREDENTIALS)
        user = _user(found)
        if user.failed_logins > self.max_failures:
            await self._lock(user.id)
            raise LoginFailed(ACCOUNT_LOCKED)
        return user

    async def _check(self, user: User, password: str, totp_code: str | None) -> None:
        if not await verify_password(user.password_hash, password):
            raise LoginFailed(WRONG_CREDENTIALS)
        if user.disabled:
            raise LoginFailed(ACCOUNT_DISABLED)
        if user.totp_secret is None:
            return
        if not totp_code:
            raise LoginFailed(SECOND_FACTOR_REQUIRED)
        if not await self._use_totp(user.id, user.totp_secret, totp_code):
            raise LoginFailed(WRONG_SECOND_FACTOR)

    async def _end_attempt(self, user: User, failure: str | None) -> None:
        if failure is None:
            await self.users.update_one(
                {"_id": user.id}, {"$set": {"failed_logins": 0, "locked_until": None}}
            )
        elif failure in (SECOND_FACTOR_REQUIRED, ACCOUNT_DISABLED):
            # The password was right: not a failed guess.
            await self.users.update_one({"_id": user.id}, {"$inc": {"failed_logins": -1}})
        elif user.failed_logins >= self.max_failures:
            await self._lock(user.id)

    async def _lock(self, user_id: str) -> None:
        """Lock the account; the count starts again once the lock has run out."""
        await self.users.update_one(
            {"_id": user_id},
            {"$set": {"locked_until": time.time() + self.lockout_s, "failed_logins": 0}},
        )

    async def _use_totp(self, user_id: str, secret: str, code: str) -> bool:
        """Whether ``code`` is current and not used before; marks its step used (atomically:
        of two logins racing with one code, only one wins)."""
        step = matching_step(secret, code)
        if step is None:
            return False
        result = await self.users.update_one(
            {"_id": user_id, "totp_last_step": {"$lt": step}}, {"$set": {"totp_last_step": step}}
        )
        return result.modified_count == 1


def _check_new_user(username: str, password: str, role: str, fhir_user: str | None) -> None:
    if not _USERNAME.fullmatch(username):
        raise invalid(
            "username",
            "A username is 2 to 64 characters: letters, digits and . _ @ -, "
            "starting with a letter or digit",
        )
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise invalid(
            "password",
            f"A password is {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters long",
        )
    if role not in ROLES:
        raise invalid("role", f"The role must be one of {', '.join(ROLES)}")
    if fhir_user is not None and not _FHIR_USER.fullmatch(fhir_user):
        raise invalid("fhir_user", "fhir_user is 'Patient/<id>' or 'Practitioner/<id>'")
    linked_type = fhir_user.split("/")[0] if fhir_user else None
    if role == "patient" and linked_type != "Patient":
        raise invalid("fhir_user", "A patient user must be linked to a Patient (Patient/<id>)")
    if role != "patient" and linked_type == "Patient":
        raise invalid("fhir_user", f"A user with role {role} links to a Practitioner")


def _user(document: dict[str, Any]) -> User:
    role: Role = document["role"]
    return User(
        id=document["_id"],
        username=document["username"],
        role=role,
        fhir_user=document.get("fhir_user"),
        password_hash=document["password_hash"],
        totp_secret=document.get("totp_secret"),
        disabled=bool(document.get("disabled")),
        failed_logins=int(document.get("failed_logins") or 0),
        locked_until=document.get("locked_until"),
    )
