"""`stepwise`: serve, worker, migrate, accounts, apply, validate, stats (SPEC §10)."""

from __future__ import annotations

import importlib
import signal
import sys
import threading
from typing import Annotated, Any

import typer

from stepwise import __version__
from stepwise.cli.common import (
    START_PATIENCE,
    CreateOption,
    DatabaseOption,
    _logging,
    app,
    console,
    err,
    open_app,
    settings_with,
)
from stepwise.errors import AppError


@app.callback(invoke_without_command=True)
def main_callback(version: Annotated[bool, typer.Option("--version", help="print the version")] = False) -> None:
    if version:
        console.print(__version__)
        raise typer.Exit()


@app.command()
def serve(
    host: Annotated[str, typer.Option(metavar="HOST", help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="port to listen on")] = 8000,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="serve only; run `stepwise worker` elsewhere")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Run the API, public pages, web UI and (unless --no-worker) the worker in one process.

    Creates and migrates the database if needed; on first start creates the account `default` and
    prints its API key and the UI address; while no user exists it prints a setup link (valid 24 h)
    at which the first owner chooses an email and password.
    """
    import uvicorn

    from stepwise.serving import HttpLimits, create_app, server_config
    from stepwise.worker.runner import tune_interpreter

    settings = settings_with(database_url)
    if "base_url" not in settings.model_fields_set:
        # Links in emails must reach this server when no public address was configured.
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        settings = settings.model_copy(update={"base_url": f"http://{shown}:{port}"})
    _logging(settings.log_level)
    stepwise = open_app(settings, create=True, patience=START_PATIENCE)
    _first_start(stepwise, settings)
    console.print(
        f"Stepwise {__version__} on {stepwise.db.dialect}; "
        f"transport: {'smtp' if settings.smtp_url else 'capture (mailbox in the UI)'}"
    )
    console.print(
        f"UI:  http://{host}:{port}/   API: http://{host}:{port}/api/v1  (docs at /api/v1/docs)", highlight=False
    )
    workers = None if no_worker else stepwise.worker()
    application = create_app(stepwise)
    if workers:
        tune_interpreter()
        workers.start()
    try:
        config = server_config(
            application,
            host=host,
            port=port,
            limits=HttpLimits.of(settings),
            log_level=settings.log_level.lower(),
            access_log=False,
        )
        uvicorn.Server(config).run()
    finally:
        if workers:
            workers.stop()
        stepwise.close()


@app.command()
def worker(database_url: DatabaseOption = None, create: CreateOption = False) -> None:
    """Run the processing loops only (events, deadlines, outbox). Run several against PostgreSQL."""
    from stepwise.worker.runner import tune_interpreter

    settings = settings_with(database_url)
    _logging(settings.log_level)
    stepwise = open_app(settings, create=create, patience=START_PATIENCE)
    workers = stepwise.worker()
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        console.print(f"received signal {signum}; finishing the current batch")
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    tune_interpreter()
    workers.start()
    console.print(f"worker running on {stepwise.db.dialect}; Ctrl-C or SIGTERM to stop")
    while not stop.wait(0.5):
        pass
    workers.stop()
    stepwise.close()


@app.command()
def migrate(database_url: DatabaseOption = None) -> None:
    """Create or upgrade the database schema."""
    settings = settings_with(database_url)
    stepwise = open_app(settings, create=True)
    console.print(f"database at the newest schema ({stepwise.db.dialect})")
    stepwise.close()


def _first_start(stepwise: Any, settings: Any) -> None:
    """On first start: the account `default` and its API key; while no user exists: a setup link."""
    from stepwise.services.accounts import ensure_default_account
    from stepwise.services.team_links import ensure_setup_link

    key = ensure_default_account(stepwise.db, settings.timezone, stepwise.clock())
    if key:
        console.print("[bold green]Created account 'default'.[/bold green] Its API key (shown once):")
        console.print(f"  {key}", highlight=False)
    setup = ensure_setup_link(stepwise.db, settings.base_url, stepwise.clock())
    if setup:
        console.print("[bold green]Set up the first owner[/bold green] at this link (valid 24 h, once):")
        console.print(f"  {setup}", highlight=False)


def main() -> None:
    """Entry point of the console script."""
    try:
        command()()
    except AppError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        sys.exit(1)


# Register the other commands, in the order `stepwise --help` lists them.
for _module in ("accounts", "users", "defining", "simulating", "reporting", "importing", "bouncing"):
    importlib.import_module(f"stepwise.cli.{_module}")

from stepwise.cli.helptext import command  # noqa: E402
