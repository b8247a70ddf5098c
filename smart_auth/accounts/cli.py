"""`medrec users add|list|disable` and `medrec clients add|list|remove`."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar, cast

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from fhir_server.config import Settings
from fhir_server.errors import FhirError
from smart_auth.model import CLIENT_KINDS, ROLES, Client, ClientKind, Role, User

if TYPE_CHECKING:  # imported when a command runs: `medrec --help` stays quick
    from smart_auth.accounts.clients import ClientStore
    from smart_auth.accounts.users import UserStore

T = TypeVar("T")
SettingsOf = Callable[[Path | None], Settings]  # `medrec`'s settings loader (exits on errors)
DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Embedded database directory [env: MEDREC_DATA_DIR]"),
]


@dataclass(frozen=True)
class Stores:
    users: UserStore
    clients: ClientStore


def register(app: typer.Typer, settings_of: SettingsOf, console: Console) -> None:
    """Add the `users` and `clients` command groups to the `medrec` command."""
    commands = AccountCommands(settings_of, console)
    users = typer.Typer(help="People who log in: add, list, disable.", no_args_is_help=True)
    users.command("add")(commands.add_user)
    users.command("list")(commands.list_users)
    users.command("disable")(commands.disable_user)
    clients = typer.Typer(help="SMART apps and backend systems.", no_args_is_help=True)
    clients.command("add")(commands.add_client)
    clients.command("list")(commands.list_clients)
    clients.command("remove")(commands.remove_client)
    app.add_typer(users, name="users")
    app.add_typer(clients, name="clients")


class AccountCommands:
    def __init__(self, settings_of: SettingsOf, console: Console) -> None:
        self.settings_of = settings_of
        self.console = console

    def add_user(
        self,
        username: Annotated[str, typer.Argument(help="Login name (case-insensitive)")],
        role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}")],
        fhir_user: Annotated[
            str | None,
            typer.Option(help="Who the user is in FHIR: Practitioner/<id> or Patient/<id>"),
        ] = None,
        totp: Annotated[
            bool, typer.Option("--totp", help="Require a TOTP second factor (admins always)")
        ] = False,
        password_stdin: Annotated[
            bool, typer.Option("--password-stdin", help="Read the password from stdin")
        ] = False,
        data_dir: DataDir = None,
    ) -> None:
        """Add a user (asks for the password twice, hidden)."""
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

        async def add(stores: Stores) -> tuple[User, str | None]:
            return await stores.users.add(
                username, password, cast(Role, role), fhir_user, totp=totp
            )

        user, totp_uri = self._run(data_dir, add)
        linked = f", {user.fhir_user}" if user.fhir_user else ""
        self.console.print(f"added user {escape(user.username)} ({user.role}{escape(linked)})")
        if totp_uri is not None:
            self.console.print(
                "second factor: add this to an authenticator app now (it is not shown again):"
            )
            typer.echo(totp_uri)

    def list_users(self, data_dir: DataDir = None) -> None:
        """List the users."""
        users = self._run(data_dir, lambda stores: stores.users.list())
        table = Table("username", "role", "fhir user", "2FA", "status")
        for user in users:
            second = "totp" if user.totp_secret else "-"
            table.add_row(user.username, user.role, user.fhir_user or "-", second, _status(user))
        self.console.print(table)

    def disable_user(
        self, username: Annotated[str, typer.Argument()], data_dir: DataDir = None
    ) -> None:
        """Disable a user: no more logins (the record stays, for the audit trail)."""
        if not self._run(data_dir, lambda stores: stores.users.disable(username)):
            self._fail(f"no user '{username}'")
        self.console.print(f"disabled user {escape(username)}")

    def add_client(
        self,
        name: Annotated[str, typer.Argument(help="What the app or system is called")],
        kind: Annotated[str, typer.Option(help=f"One of {', '.join(CLIENT_KINDS)}")],
        redirect_uri: Annotated[
            list[str] | None, typer.Option(help="Where to send the user back (repeatable)")
        ] = None,
        scope: Annotated[str, typer.Option(help="The most it may ask for")] = "",
        jwks: Annotated[
            Path | None, typer.Option(help="JSON file with its public keys (a JWK Set)")
        ] = None,
        jwks_uri: Annotated[str | None, typer.Option(help="URL of its public keys")] = None,
        grant_type: Annotated[
            list[str] | None, typer.Option(help="Grant types (repeatable; default by kind)")
        ] = None,
        client_id: Annotated[str | None, typer.Option(help="Default: a random id")] = None,
        data_dir: DataDir = None,
    ) -> None:
        """Register a SMART app or backend system."""
        key_set = _read_jwks(jwks) if jwks is not None else None
        if jwks is not None and key_set is None:
            self._fail(f"{jwks} is not a JSON object")

        async def add(stores: Stores) -> tuple[Client, str | None]:
            return await stores.clients.add(
                name,
                cast(ClientKind, kind),
                redirect_uri or (),
                scope,
                jwks=key_set,
                jwks_uri=jwks_uri,
                grant_types=grant_type,
                client_id=client_id,
            )

        client, secret = self._run(data_dir, add)
        self.console.print(f"added client {escape(client.client_id)} ({client.kind})")
        if secret is not None:
            self.console.print("client secret (store it now: it is not shown again):")
            typer.echo(secret)

    def list_clients(self, data_dir: DataDir = None) -> None:
        """List the clients."""
        clients = self._run(data_dir, lambda stores: stores.clients.list())
        table = Table("client id", "name", "kind", "grant types", "redirect URIs", "status")
        for client in clients:
            table.add_row(
                client.client_id,
                client.name,
                client.kind,
                " ".join(client.grant_types),
                "\n".join(client.redirect_uris) or "-",
                "removed" if client.disabled else "active",
            )
        self.console.print(table)

    def remove_client(
        self, client_id: Annotated[str, typer.Argument()], data_dir: DataDir = None
    ) -> None:
        """Remove a client: no more tokens (the record stays, for the audit trail)."""
        if not self._run(data_dir, lambda stores: stores.clients.remove(client_id)):
            self._fail(f"no client '{client_id}'")
        self.console.print(f"removed client {escape(client_id)}")

    def _run(self, data_dir: Path | None, work: Callable[[Stores], Awaitable[T]]) -> T:
        from fhir_server.storage.embedded import database_uri

        settings = self.settings_of(data_dir)
        try:
            with database_uri(settings.mongodb_uri, settings.data_dir) as uri:
                return asyncio.run(_with_stores(uri, settings, work))
        except FhirError as error:
            self._fail(error.message)

    def _fail(self, message: str) -> NoReturn:
        self.console.print(f"[red]error:[/red] {escape(message)}")
        raise typer.Exit(1)


async def _with_stores(uri: str, settings: Settings, work: Callable[[Stores], Awaitable[T]]) -> T:
    from fhir_server.storage.mongo import connect
    from smart_auth.accounts.clients import ClientStore
    from smart_auth.accounts.users import UserStore

    client = connect(uri, timeout_ms=settings.mongodb_timeout_ms)
    try:
        db = client[settings.database]
        stores = Stores(UserStore(db, settings), ClientStore(db))
        await stores.users.ensure_indexes()
        await stores.clients.ensure_indexes()
        return await work(stores)
    finally:
        await client.close()


def _status(user: User) -> str:
    if user.disabled:
        return "disabled"
    if user.locked_until is not None and user.locked_until > time.time():
        until = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(user.locked_until))
        return f"locked until {until}"
    return "active"


def _read_jwks(path: Path) -> dict[str, Any] | None:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None
