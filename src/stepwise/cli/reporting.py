"""`stepwise stats` and `stepwise bench`."""

from __future__ import annotations

import json
import logging
import sys
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.table import Table

from stepwise.cli.common import (
    AccountOption,
    CreateOption,
    DatabaseOption,
    account_id,
    app,
    console,
    err,
    fail,
    open_app,
    settings_with,
)
from stepwise.errors import AppError


@app.command()
def stats(
    sequence: Annotated[str, typer.Argument(help="sequence key", metavar="SEQUENCE")],
    account: AccountOption = "default",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    database_url: DatabaseOption = None,
    create: CreateOption = False,
) -> None:
    """Show a sequence's statistics (see docs/concepts.md)."""
    from stepwise.services import sequences as sequence_service

    stepwise = open_app(settings_with(database_url), create=create)
    try:
        owner = account_id(stepwise, account)
        data = sequence_service.stats(stepwise.db, owner, sequence)
        steps = sequence_service.stored_steps(stepwise.db, owner, sequence)
    except AppError as exc:
        raise fail(exc.message) from exc
    finally:
        stepwise.close()
    if as_json:
        sys.stdout.write(json.dumps(data.model_dump()) + "\n")
        return
    console.print(
        f"[bold]{sequence}[/bold] ({data.status}): entered {data.entered}, "
        f"subscribers {data.subscribers}, on steps {data.on_steps}, "
        f"completed {data.completed}, stopped {data.stopped}"
    )
    stopped = ", ".join(f"{k} {v}" for k, v in data.stopped_by.items() if v)
    if stopped:
        console.print(f"stopped by: {stopped}")
    if data.converted or data.conversion_rate:
        console.print(f"converted (goal): {data.converted}, conversion rate {data.conversion_rate}")
    table = Table("step", "on step", "variant", "waits for", "does", "fired")
    for step in data.steps:
        for index, variant in enumerate(step.variants):
            waits, does = _described(steps, step.step, variant.variant)
            table.add_row(
                str(step.step) if index == 0 else "",
                str(step.on_step) if index == 0 else "",
                str(variant.variant),
                waits,
                does,
                str(variant.fired),
            )
    console.print(table)


def _described(steps: list[Any], step: int, variant: int) -> tuple[str, str]:
    """What a variant (both numbered from 1) waits for and what it does, in words."""
    from stepwise.web import describe

    try:
        body = steps[step - 1]["variants"][variant - 1]
        waits = " or ".join(describe.event(spec) for spec in body.get("when") or [])
        does = "; ".join(describe.action(spec) for spec in body.get("do") or [])
    except (IndexError, KeyError, TypeError, AttributeError):
        return "?", "?"
    return waits, does


class Workload(StrEnum):
    """What `stepwise bench` measures."""

    standard = "standard"
    w = "w"


@app.command()
def bench(
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            metavar="URL",
            help="PostgreSQL server to bench on (a scratch database is created and dropped); default: SQLite",
        ),
    ] = None,
    subscribers: Annotated[int, typer.Option(metavar="N", help="subscribers in the workload", min=100)] = 10_000,
    workers: Annotated[
        int, typer.Option(metavar="N", help="worker processes (keep 1 on SQLite: one writer per file)", min=1)
    ] = 1,
    batch_size: Annotated[
        int, typer.Option(metavar="N", help="subscribers per processing batch", min=1, max=5000)
    ] = 500,
    waiting_runs: Annotated[
        int,
        typer.Option(
            metavar="N", help="waiting runs for the stats call timing and the publication in mode migrate", min=1
        ),
    ] = 1_000_000,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    workload: Annotated[
        Workload,
        typer.Option(
            help="standard: every Part I figure; w: the side-by-side workload W (N subscribers get email A on a "
            "`go` event and B 2 s later through `stepwise serve`, or `serve --no-worker` + N workers on "
            "PostgreSQL, to an SMTP sink in its own process)",
        ),
    ] = Workload.standard,
) -> None:
    """Run the standard benchmark (or workload W) on a scratch database and print the figures."""
    from stepwise.bench.runner import run

    logging.getLogger("alembic").setLevel(logging.WARNING)
    if workload is Workload.w:
        _print_report(_workload_w(database_url, subscribers, workers), as_json, f"workload W ({workers} worker(s))")
        return
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
    _print_report(report, as_json, f"stepwise bench on {report['database']} ({workers} worker(s))", "summary")


def _workload_w(database_url: str | None, subscribers: int, workers: int) -> dict[str, Any]:
    from stepwise.bench.workload_w import run_w

    on_postgresql = bool(database_url and database_url.startswith("postgres"))
    err.print("[dim]workload W: importing subscribers, warming up, then the timed run[/dim]")
    try:
        return {"workload": "w", **run_w(database_url, subscribers, workers if on_postgresql else 0)}
    except Exception as exc:
        raise fail(f"workload W failed: {exc}") from exc


def _print_report(report: dict[str, Any], as_json: bool, title: str, part: str | None = None) -> None:
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return
    table = Table("figure", "value", title=title)
    for key, value in (report[part] if part else report).items():
        table.add_row(key, str(value))
    console.print(table)
