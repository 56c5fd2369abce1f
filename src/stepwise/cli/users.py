"""`stepwise users create|list|set-role|remove` (SPEC S33)."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from stepwise.cli.common import CreateOption, DatabaseOption, console, fail, open_app, settings_with, users_app
from stepwise.errors import AppError

AccountOption = Annotated[str, typer.Option("--account", metavar="NAME", help="the account (default: default)")]
RoleOption = Annotated[str, typer.Option("--role", metavar="ROLE", help="owner, admin, editor or viewer")]


def _account_id(stepwise: Any, name: str) -> int:
    from stepwise.services.accounts import account_named

    account = account_named(stepwise.db, name)
    if account is None:
        raise fail(f"no account {name!r}")
    return account.id


def _password(given: str | None) -> str:
    if given is not None:
        return given
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Argument(help="the person's email address", metavar="EMAIL")],
    role: RoleOption = "viewer",
    password: Annotated[
        str | None,
        typer.Option(metavar="PASSWORD", help="else a line on stdin, or a prompt"),
    ] = None,
    account: AccountOption = "default",
    database_url: DatabaseOption = None,
    create: CreateOption = False,
) -> None:
    """Create a user who signs in to the UI with EMAIL and a password (10 to 200 characters)."""
    from stepwise.services.users import create_user, view

    stepwise = open_app(settings_with(database_url), create=create)
    try:
        user = create_user(
            stepwise.db, _account_id(stepwise, account), email, _password(password), role, stepwise.clock()
        )
    except AppError as exc:
        raise fail(exc.message) from exc
    finally:
        stepwise.close()
    console.print(f"created user [bold]{view(user).email}[/bold] ({user.role}) in account {account}")


@users_app.command("list")
def users_list(
    as_json: Annotated[bool, typer.Option("--json", help="print the users as JSON lines")] = False,
    account: AccountOption = "default",
    database_url: DatabaseOption = None,
) -> None:
    """List the users of an account with their roles."""
    from stepwise.services.users import list_users, view

    stepwise = open_app(settings_with(database_url), create=False)
    try:
        users = [view(u) for u in list_users(stepwise.db, _account_id(stepwise, account))]
    finally:
        stepwise.close()
    for user in users:
        if as_json:
            sys.stdout.write(json.dumps(user.model_dump()) + "\n")
        else:
            two = "  2FA" if user.two_factor else ""
            console.print(f"{user.email}  {user.role}{two}", highlight=False)


@users_app.command("set-role")
def users_set_role(
    email: Annotated[str, typer.Argument(help="the user's email address", metavar="EMAIL")],
    role: Annotated[str, typer.Argument(help="owner, admin, editor or viewer", metavar="ROLE")],
    account: AccountOption = "default",
    database_url: DatabaseOption = None,
) -> None:
    """Change a user's role (the account's last owner keeps theirs)."""
    from stepwise.services.users import set_role

    stepwise = open_app(settings_with(database_url), create=False)
    try:
        user = set_role(stepwise.db, _account_id(stepwise, account), email, role)
    except AppError as exc:
        raise fail(exc.message) from exc
    finally:
        stepwise.close()
    console.print(f"{user.email} is now {user.role}", highlight=False)


@users_app.command("remove")
def users_remove(
    email: Annotated[str, typer.Argument(help="the user's email address", metavar="EMAIL")],
    account: AccountOption = "default",
    database_url: DatabaseOption = None,
) -> None:
    """Remove a user and end their sessions (never the account's last owner)."""
    from stepwise.services.users import remove_user

    stepwise = open_app(settings_with(database_url), create=False)
    try:
        remove_user(stepwise.db, _account_id(stepwise, account), email)
    except AppError as exc:
        raise fail(exc.message) from exc
    finally:
        stepwise.close()
    console.print(f"removed {email}", highlight=False)
