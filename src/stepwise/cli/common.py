"""What every `stepwise` command shares: the Typer app, the consoles, options, opening the database."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from stepwise.config import Settings
from stepwise.errors import AppError

app = typer.Typer(
    name="stepwise",
    help="Stepwise: event-triggered email sequences. Configure with STEPWISE_* environment variables.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
accounts_app = typer.Typer(help="Manage accounts.", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")
users_app = typer.Typer(help="Manage the people who sign in to the UI.", no_args_is_help=True)
app.add_typer(users_app, name="users")
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DatabaseOption = Annotated[
    str | None, typer.Option("--database-url", metavar="URL", help="overrides STEPWISE_DATABASE_URL")
]
CreateOption = Annotated[bool, typer.Option("--create", help="create the SQLite database if it does not exist yet")]
AccountOption = Annotated[str, typer.Option("--account", "-a", metavar="NAME", help="account name")]


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


def settings_with(database_url: str | None = None, **overrides: Any) -> Settings:
    """Read the environment, then apply CLI options."""
    try:
        settings = Settings()
    except Exception as exc:
        raise fail(f"bad configuration: {exc}") from exc
    updates = {k: v for k, v in {"database_url": database_url, **overrides}.items() if v is not None}
    return settings.model_copy(update=updates)


def sqlite_file(url: str) -> Path | None:
    """The file of an SQLite database URL (None for PostgreSQL and in-memory databases)."""
    from stepwise.services.databases import sqlite_file as file_of

    return file_of(url)


def shown_url(url: str) -> str:
    """The database URL as shown to people: SQLite with its absolute path, passwords masked."""
    from sqlalchemy.engine import make_url

    try:
        file = sqlite_file(url)
        return f"sqlite:///{file}" if file is not None else make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(an unreadable database URL)"


# How long the long-running commands (serve, worker) wait for a database that is restarting or not up
# yet before giving up: a supervisor starting a worker beside a restarting PostgreSQL must not lose it.
START_PATIENCE = 60.0


def open_app(
    settings: Settings, *, migrate: bool = True, create: bool = False, unreachable: int = 1, patience: float = 0.0
) -> Any:
    """Open the database named by the settings; a new SQLite file only with `create` (serve, migrate, --create).

    A database that cannot be reached is tried again, with growing pauses, for `patience` seconds;
    after that the command ends with exit status `unreachable`.
    """
    from stepwise.bootstrap import build
    from stepwise.services.transient import is_transient

    try:
        file = sqlite_file(settings.database_url)
    except Exception as exc:
        raise fail(f"cannot open the database {shown_url(settings.database_url)}: {exc}") from exc
    if file is not None and not file.exists() and not create:
        raise fail(f"no database at {file}; run `stepwise serve` or `stepwise migrate` first, or pass --create")
    err.print(f"using database {shown_url(settings.database_url)}", highlight=False)
    deadline = time.monotonic() + patience
    pause = 0.25
    while True:
        try:
            return build(settings, migrate=migrate)
        except AppError:
            raise
        except Exception as exc:
            transient = is_transient(exc)
            if transient and time.monotonic() + pause < deadline:
                err.print(f"the database is unreachable ({type(exc).__name__}); trying again in {pause:g} s")
                time.sleep(pause)
                pause = min(pause * 2, 5.0)
                continue
            code = unreachable if transient else 1
            raise fail(f"cannot open the database {shown_url(settings.database_url)}: {exc}", code) from exc


def account_id(stepwise: Any, name: str) -> int:
    from stepwise.services.accounts import account_named

    account = account_named(stepwise.db, name)
    if account is None:
        raise fail(f"no account named {name!r} (create it with `stepwise accounts create {name}`)")
    return int(account.id)


def _logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
