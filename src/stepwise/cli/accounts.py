"""`stepwise accounts create|rotate-key`."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from stepwise.cli.common import (
    CreateOption,
    DatabaseOption,
    accounts_app,
    console,
    fail,
    open_app,
    settings_with,
)
from stepwise.errors import AppError


@accounts_app.command("create")
def accounts_create(
    name: Annotated[str, typer.Argument(help="account name (a slug)", metavar="NAME")],
    as_json: Annotated[bool, typer.Option("--json", help="print {account, api_key} as JSON")] = False,
    timezone: Annotated[str | None, typer.Option(metavar="ZONE", help="default time zone of the account")] = None,
    database_url: DatabaseOption = None,
    create: CreateOption = False,
) -> None:
    """Create an account and print its API key."""
    from stepwise.domain.schedules import InvalidSchedule, zone
    from stepwise.services.accounts import create_account

    settings = settings_with(database_url)
    tz = timezone or settings.timezone
    try:
        zone(tz)
    except InvalidSchedule as exc:
        raise fail(str(exc)) from exc
    stepwise = open_app(settings, create=create)
    try:
        account, key = create_account(stepwise.db, name, tz, stepwise.clock())
    except AppError as exc:
        raise fail(exc.message) from exc
    finally:
        stepwise.close()
    if as_json:
        sys.stdout.write(json.dumps({"account": account.name, "api_key": key}) + "\n")
    else:
        console.print(f"created account [bold]{account.name}[/bold]; API key (shown once):")
        console.print(f"  {key}", highlight=False)


@accounts_app.command("rotate-key")
def accounts_rotate_key(
    name: Annotated[str, typer.Argument(help="the account whose key is replaced", metavar="NAME")],
    as_json: Annotated[
        bool, typer.Option("--json", help="print {account, api_key, revoked, sessions_ended} as JSON")
    ] = False,
    database_url: DatabaseOption = None,
    create: CreateOption = False,
) -> None:
    """Replace an account's API key (for example when it is lost or leaked) and print the new one.

    Every current key of the account stops working at once (API calls get 401) and every UI session
    of the account is ended (users sign in again). Running servers need no restart.
    """
    from stepwise.services.accounts import rotate_key

    stepwise = open_app(settings_with(database_url), create=create)
    try:
        rotated = rotate_key(stepwise.db, name, stepwise.clock())
    except AppError as exc:
        raise fail(exc.message) from exc
    finally:
        stepwise.close()
    if as_json:
        body = {"account": name, "api_key": rotated.key, "revoked": rotated.revoked}
        sys.stdout.write(json.dumps({**body, "sessions_ended": rotated.sessions_ended}) + "\n")
        return
    console.print(
        f"revoked {rotated.revoked} key(s) of [bold]{name}[/bold] and ended {rotated.sessions_ended} UI session(s);"
        " new API key (shown once):"
    )
    console.print(f"  {rotated.key}", highlight=False)
