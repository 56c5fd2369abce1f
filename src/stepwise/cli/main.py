"""`stepwise`: serve, worker, migrate, accounts, apply, validate, stats (SPEC §10)."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from stepwise import __version__
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
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DatabaseOption = Annotated[str | None, typer.Option("--database-url", help="overrides STEPWISE_DATABASE_URL")]
AccountOption = Annotated[str, typer.Option("--account", "-a", help="account name")]


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


def open_app(settings: Settings, *, migrate: bool = True) -> Any:
    from stepwise.bootstrap import build

    try:
        return build(settings, migrate=migrate)
    except AppError:
        raise
    except Exception as exc:
        raise fail(f"cannot open the database {settings.database_url!r}: {exc}") from exc


def account_id(stepwise: Any, name: str) -> int:
    from stepwise.storage import accounts as account_store

    with stepwise.db.read() as conn:
        account = account_store.by_name(conn, name)
    if account is None:
        raise fail(f"no account named {name!r} (create it with `stepwise accounts create {name}`)")
    return int(account.id)


def _logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


@app.callback(invoke_without_command=True)
def main_callback(version: Annotated[bool, typer.Option("--version", help="print the version")] = False) -> None:
    if version:
        console.print(__version__)
        raise typer.Exit()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="serve only; run `stepwise worker` elsewhere")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Run the API, public pages, web UI and (unless --no-worker) the worker in one process.

    Creates and migrates the database if needed; on first start creates the account `default` and
    prints its API key and the UI address.
    """
    import uvicorn

    from stepwise.api.app import create_app
    from stepwise.services.accounts import ensure_default_account
    from stepwise.worker.runner import tune_garbage_collector

    settings = settings_with(database_url)
    if "base_url" not in settings.model_fields_set:
        # Links in emails must reach this server when no public address was configured.
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        settings = settings.model_copy(update={"base_url": f"http://{shown}:{port}"})
    _logging(settings.log_level)
    stepwise = open_app(settings)
    key = ensure_default_account(stepwise.db, settings.timezone, stepwise.clock())
    if key:
        console.print("[bold green]Created account 'default'.[/bold green] Its API key (shown once):")
        console.print(f"  {key}", highlight=False)
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
        tune_garbage_collector()
        workers.start()
    try:
        uvicorn.run(application, host=host, port=port, log_level=settings.log_level.lower(), access_log=False)
    finally:
        if workers:
            workers.stop()
        stepwise.close()


@app.command()
def worker(database_url: DatabaseOption = None) -> None:
    """Run the processing loops only (events, deadlines, outbox). Run several against PostgreSQL."""
    from stepwise.worker.runner import tune_garbage_collector

    settings = settings_with(database_url)
    _logging(settings.log_level)
    stepwise = open_app(settings)
    workers = stepwise.worker()
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        console.print(f"received signal {signum}; finishing the current batch")
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    tune_garbage_collector()
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
    stepwise = open_app(settings)
    console.print(f"database at the newest schema ({stepwise.db.dialect})")
    stepwise.close()


@accounts_app.command("create")
def accounts_create(
    name: Annotated[str, typer.Argument(help="account name (a slug)")],
    as_json: Annotated[bool, typer.Option("--json", help="print {account, api_key} as JSON")] = False,
    timezone: Annotated[str | None, typer.Option(help="default time zone of the account")] = None,
    database_url: DatabaseOption = None,
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
    stepwise = open_app(settings)
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


@app.command()
def validate(files: Annotated[list[Path], typer.Argument(help="YAML or JSON definition files")]) -> None:
    """Validate definition files without touching the database."""
    from stepwise.cli.definitions import load
    from stepwise.cli.definitions import validate as check

    bundle = load(files)
    problems = check(bundle)
    if problems:
        for problem in problems:
            err.print(problem, highlight=False, markup=False)
        raise fail(f"{len(problems)} problem(s) found")
    count = sum(len(getattr(bundle, k)) for k in ("lists", "drafts", "forms", "sequences"))
    console.print(f"ok: {count} definition(s) in {len(files)} file(s)")


@app.command()
def apply(
    files: Annotated[list[Path], typer.Argument(help="YAML or JSON definition files")],
    account: AccountOption = "default",
    database_url: DatabaseOption = None,
) -> None:
    """Create or update lists, drafts, forms and sequences from files; print what changed."""
    from stepwise.cli.applying import apply_bundle
    from stepwise.cli.definitions import load

    bundle = load(files)
    if bundle.problems:
        for problem in bundle.problems:
            err.print(problem, highlight=False, markup=False)
        raise fail("nothing applied")
    stepwise = open_app(settings_with(database_url))
    try:
        changes = apply_bundle(stepwise, account_id(stepwise, account), bundle)
    except AppError as exc:
        for item in exc.details or []:
            err.print(f"{item}", highlight=False, markup=False)
        raise fail(f"{exc.message}; nothing applied") from exc
    finally:
        stepwise.close()
    for line in changes:
        console.print(line, highlight=False)


@app.command()
def stats(
    sequence: Annotated[str, typer.Argument(help="sequence key")],
    account: AccountOption = "default",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Show a sequence's statistics (SPEC §7)."""
    from stepwise.services import sequences as sequence_service

    stepwise = open_app(settings_with(database_url))
    try:
        data = sequence_service.stats(stepwise.db, account_id(stepwise, account), sequence)
    except AppError as exc:
        raise fail(exc.message) from exc
    finally:
        stepwise.close()
    if as_json:
        sys.stdout.write(json.dumps(data) + "\n")
        return
    console.print(
        f"[bold]{sequence}[/bold] ({data['status']}): entered {data['entered']}, "
        f"subscribers {data['subscribers']}, on steps {data['on_steps']}, "
        f"completed {data['completed']}, stopped {data['stopped']}"
    )
    stopped = ", ".join(f"{k} {v}" for k, v in data["stopped_by"].items() if v)
    if stopped:
        console.print(f"stopped by: {stopped}")
    table = Table("step", "on step", "variant", "fired")
    for step in data["steps"]:
        for index, variant in enumerate(step["variants"]):
            table.add_row(
                str(step["step"]) if index == 0 else "",
                str(step["on_step"]) if index == 0 else "",
                str(variant["variant"]),
                str(variant["fired"]),
            )
    console.print(table)


@app.command()
def bench(
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="PostgreSQL server to bench on (a scratch database is created and dropped); default: SQLite",
        ),
    ] = None,
    subscribers: Annotated[int, typer.Option(help="subscribers in the workload", min=100)] = 10_000,
    workers: Annotated[int, typer.Option(help="worker processes (keep 1 on SQLite: one writer per file)", min=1)] = 1,
    batch_size: Annotated[int, typer.Option(help="subscribers per processing batch", min=1, max=5000)] = 500,
    waiting_runs: Annotated[int, typer.Option(help="waiting runs for the stats call timing", min=1)] = 1_000_000,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Run the standard benchmark on a scratch database and print the figures (SPEC §12)."""
    from stepwise.bench.runner import run

    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        report = run(
            database_url,
            subscribers=subscribers,
            workers=workers,
            batch_size=batch_size,
            waiting_runs=waiting_runs,
            progress=lambda message: err.print(f"[dim]{message}[/dim]"),
        )
    except Exception as exc:
        raise fail(f"benchmark failed: {exc}") from exc
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return
    table = Table("figure", "value", title=f"stepwise bench on {report['database']} ({workers} worker(s))")
    for key, value in report["summary"].items():
        table.add_row(key, str(value))
    console.print(table)


def main() -> None:
    """Entry point of the console script."""
    try:
        app()
    except AppError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        sys.exit(1)


import stepwise.cli.importing  # noqa: E402, F401  (registers `stepwise import`)
