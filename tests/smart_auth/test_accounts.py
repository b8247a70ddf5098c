"""UserStore and ClientStore against the real database: hashing, lockout, TOTP, validation."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from joserfc.jwk import ECKey, RSAKey
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from fhir_server.config import Settings
from fhir_server.errors import Conflict, Invalid
from smart_auth.accounts.clients import ClientStore
from smart_auth.accounts.passwords import verify_password
from smart_auth.accounts.totp import code_at
from smart_auth.accounts.users import LoginFailed, UserStore

PASSWORD = "correct horse battery"


@pytest.fixture
async def db(mongodb_uri: str, database_name: str) -> AsyncIterator[AsyncDatabase[Any]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    try:
        yield client[database_name]
    finally:
        await client.close()


@pytest.fixture
async def users(db: AsyncDatabase[Any], settings: Settings) -> UserStore:
    store = UserStore(db, settings.model_copy(update={"login_max_failures": 3}))
    await store.ensure_indexes()
    return store


@pytest.fixture
async def clients(db: AsyncDatabase[Any]) -> ClientStore:
    store = ClientStore(db)
    await store.ensure_indexes()
    return store


async def failed(users: UserStore, username: str, password: str, code: str | None = None) -> str:
    with pytest.raises(LoginFailed) as refused:
        await users.authenticate(username, password, code)
    return refused.value.reason


# -- users --


async def test_password_is_stored_as_an_argon2id_hash(
    users: UserStore, db: AsyncDatabase[Any]
) -> None:
    user, uri = await users.add("Alice", PASSWORD, "practitioner", "Practitioner/dr-chen")
    assert uri is None
    assert user.username == "alice"
    assert user.password_hash.startswith("$argon2id$")
    stored = await db["auth_users"].find_one({"username": "alice"})
    assert stored is not None
    assert PASSWORD not in repr(stored)
    assert await verify_password(stored["password_hash"], PASSWORD)
    assert await users.get(user.id) == user
    assert await users.by_username("ALICE") == user


async def test_login_with_the_right_password(users: UserStore) -> None:
    user, _ = await users.add("bob", PASSWORD, "staff")
    assert await users.authenticate("Bob", PASSWORD, None) == user


async def test_unknown_user_and_wrong_password_read_alike(users: UserStore) -> None:
    await users.add("bob", PASSWORD, "staff")
    assert await failed(users, "nobody", PASSWORD) == "wrong username or password"
    assert await failed(users, "bob", "wrong password!") == "wrong username or password"


async def test_lockout_after_failures_in_a_row(users: UserStore, db: AsyncDatabase[Any]) -> None:
    await users.add("carol", PASSWORD, "staff")
    for _ in range(3):  # the fixture's login_max_failures
        assert await failed(users, "carol", "not the password") == "wrong username or password"
    # Locked: even the right password is refused, without saying whether it was right.
    assert await failed(users, "carol", PASSWORD) == "account locked"
    locked = await users.by_username("carol")
    assert locked is not None and locked.locked_until is not None
    assert locked.locked_until > time.time() + 800  # settings.login_lockout_s = 900
    # Once the lock has run out, the right password works and clears the record.
    await db["auth_users"].update_one({"username": "carol"}, {"$set": {"locked_until": 1.0}})
    user = await users.authenticate("carol", PASSWORD, None)
    assert user.username == "carol"
    cleared = await users.by_username("carol")
    assert cleared is not None and cleared.locked_until is None and cleared.failed_logins == 0


async def test_concurrent_guesses_stop_at_the_limit(users: UserStore) -> None:
    await users.add("carl", PASSWORD, "staff")
    guesses = [failed(users, "carl", f"guess number {n}") for n in range(10)]
    reasons = Counter(await asyncio.gather(*guesses))
    # Only as many guesses as allowed were checked, however many arrived at once.
    assert reasons == {"wrong username or password": 3, "account locked": 7}
    assert await failed(users, "carl", PASSWORD) == "account locked"


async def test_success_resets_the_failure_count(users: UserStore) -> None:
    await users.add("dave", PASSWORD, "staff")
    for _ in range(2):
        await failed(users, "dave", "not the password")
    await users.authenticate("dave", PASSWORD, None)
    for _ in range(2):
        await failed(users, "dave", "not the password")
    assert (await users.authenticate("dave", PASSWORD, None)).username == "dave"


async def test_disabled_user_cannot_log_in(users: UserStore) -> None:
    await users.add("erin", PASSWORD, "staff")
    assert await users.disable("erin")
    assert not await users.disable("nobody")
    # Only a caller who knows the password learns that the account is disabled.
    assert await failed(users, "erin", "not the password") == "wrong username or password"
    assert await failed(users, "erin", PASSWORD) == "account disabled"
    listed = {user.username: user.disabled for user in await users.list()}
    assert listed == {"erin": True}


async def test_admin_always_gets_totp(users: UserStore) -> None:
    admin, uri = await users.add("root", PASSWORD, "admin")
    assert admin.totp_secret is not None
    assert uri is not None and uri.startswith("otpauth://totp/medrec:root?secret=")
    assert admin.totp_secret in uri


async def test_totp_is_required_and_a_code_is_used_once(users: UserStore) -> None:
    user, uri = await users.add("frank", PASSWORD, "practitioner", totp=True)
    assert uri is not None and user.totp_secret is not None
    now = time.time()
    for _ in range(5):  # the right password without its code: not a failed guess
        assert await failed(users, "frank", PASSWORD) == "second factor required"
    assert await failed(users, "frank", PASSWORD, "000000") == "wrong second factor"
    code = code_at(user.totp_secret, now)
    assert (await users.authenticate("frank", PASSWORD, code)).id == user.id
    assert await failed(users, "frank", PASSWORD, code) == "wrong second factor"  # replayed
    # The next step's code (one step of clock drift) is still fresh.
    later = code_at(user.totp_secret, now + 30)
    assert (await users.authenticate("frank", PASSWORD, later)).id == user.id
    # A code from before the last one used is refused even inside the window.
    assert await failed(users, "frank", PASSWORD, code) == "wrong second factor"


async def test_wrong_totp_codes_count_towards_lockout(users: UserStore) -> None:
    await users.add("grace", PASSWORD, "admin")
    for _ in range(3):
        await failed(users, "grace", PASSWORD, "123456")
    assert await failed(users, "grace", PASSWORD, "123456") == "account locked"


@pytest.mark.parametrize(
    ("username", "password", "role", "fhir_user", "field"),
    [
        ("a", PASSWORD, "staff", None, "username"),
        ("has space", PASSWORD, "staff", None, "username"),
        ("-dash", PASSWORD, "staff", None, "username"),
        ("henry", "short pass", "staff", None, "password"),
        ("henry", PASSWORD, "superuser", None, "role"),
        ("henry", PASSWORD, "patient", None, "fhir_user"),
        ("henry", PASSWORD, "patient", "Practitioner/dr-chen", "fhir_user"),
        ("henry", PASSWORD, "practitioner", "Patient/amina-hassan", "fhir_user"),
        ("henry", PASSWORD, "staff", "Observation/x", "fhir_user"),
        ("henry", PASSWORD, "staff", "Practitioner/", "fhir_user"),
    ],
)
async def test_user_validation(
    users: UserStore, username: str, password: str, role: Any, fhir_user: str | None, field: str
) -> None:
    with pytest.raises(Invalid) as error:
        await users.add(username, password, role, fhir_user)
    assert error.value.issues[0].expression == (field,)
    assert await users.list() == []


async def test_username_is_unique_whatever_its_case(users: UserStore) -> None:
    await users.add("ivy", PASSWORD, "patient", "Patient/amina-hassan")
    with pytest.raises(Conflict):
        await users.add("IVY", PASSWORD, "staff")


# -- clients --


async def test_public_client(clients: ClientStore) -> None:
    client, secret = await clients.add(
        "Growth chart", "public", ["http://localhost:4000/callback"], "launch/patient patient/*.rs"
    )
    assert secret is None
    assert client.grant_types == ("authorization_code", "refresh_token")
    assert client.secret_hash is None
    assert await clients.get(client.client_id) == client
    assert await clients.list() == [client]


async def test_confidential_symmetric_secret_is_hashed(
    clients: ClientStore, db: AsyncDatabase[Any]
) -> None:
    client, secret = await clients.add(
        "Dashboard", "confidential-symmetric", ["https://dash.example.org/cb"], client_id="dash"
    )
    assert secret is not None and len(secret) >= 40
    stored = await db["auth_clients"].find_one({"_id": "dash"})
    assert stored is not None
    assert secret not in repr(stored)
    assert stored["secret_hash"].startswith("$argon2id$")
    assert await clients.verify_secret(client, secret)
    assert not await clients.verify_secret(client, secret + "x")
    with pytest.raises(Conflict):
        await clients.add("Again", "public", ["https://dash.example.org/cb"], client_id="dash")


async def test_asymmetric_client_with_public_keys(clients: ClientStore) -> None:
    rsa = RSAKey.generate_key(2048).as_dict(private=False)
    ec = ECKey.generate_key("P-384").as_dict(private=False)
    client, secret = await clients.add(
        "Bulk exporter", "confidential-asymmetric", scope="system/*.rs", jwks={"keys": [rsa, ec]}
    )
    assert secret is None
    assert client.grant_types == ("client_credentials",)
    assert client.jwks == {"keys": [rsa, ec]}
    assert not await clients.verify_secret(client, "anything")
    by_url, _ = await clients.add(
        "Lab system", "confidential-asymmetric", jwks_uri="https://lab.example.org/jwks.json"
    )
    assert by_url.jwks_uri == "https://lab.example.org/jwks.json"


async def test_removed_client_is_kept_disabled(clients: ClientStore) -> None:
    client, _ = await clients.add("Old app", "public", ["https://old.example.org/cb"])
    assert await clients.remove(client.client_id)
    assert not await clients.remove("no-such-client")
    removed = await clients.get(client.client_id)
    assert removed is not None and removed.disabled


def _private_rsa() -> dict[str, Any]:
    return dict(RSAKey.generate_key(2048).as_dict(private=True))


@pytest.mark.parametrize(
    ("kind", "arguments", "field"),
    [
        ("public", {}, "redirect_uris"),  # authorization_code needs somewhere to return to
        ("public", {"redirect_uris": ["http://app.example.org/cb"]}, "redirect_uris"),
        ("public", {"redirect_uris": ["https://app.example.org/cb#x"]}, "redirect_uris"),
        ("public", {"redirect_uris": ["/callback"]}, "redirect_uris"),
        ("public", {"redirect_uris": ["https:///cb"]}, "redirect_uris"),
        ("public", {"redirect_uris": ["javascript:alert(1)"]}, "redirect_uris"),
        ("public", {"redirect_uris": ["https://a.example/cb"], "scope": "patient/*.bad"}, "scope"),
        ("public", {"grant_types": ["client_credentials"]}, "grant_types"),
        ("public", {"grant_types": ["password"]}, "grant_types"),
        ("public", {"redirect_uris": ["https://a.example/cb"], "client_id": "a b"}, "client_id"),
        ("public", {"redirect_uris": ["https://a.example/cb"], "jwks_uri": "https://k"}, "jwks"),
        ("confidential-asymmetric", {}, "jwks"),
        ("confidential-asymmetric", {"jwks": {"keys": []}}, "jwks"),
        ("confidential-asymmetric", {"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}, "jwks"),
        ("confidential-asymmetric", {"jwks": {"keys": [{"kty": "RSA", "n": "AQAB"}]}}, "jwks"),
        ("confidential-asymmetric", {"jwks_uri": "http://keys.example.org/jwks"}, "jwks_uri"),
        ("shared", {}, "kind"),
    ],
)
async def test_client_validation(
    clients: ClientStore, kind: Any, arguments: dict[str, Any], field: str
) -> None:
    with pytest.raises(Invalid) as error:
        await clients.add("Some app", kind, **arguments)
    assert error.value.issues[0].expression == (field,)
    assert await clients.list() == []


async def test_private_keys_are_refused(clients: ClientStore) -> None:
    with pytest.raises(Invalid, match="public keys only"):
        await clients.add("Leaky", "confidential-asymmetric", jwks={"keys": [_private_rsa()]})
