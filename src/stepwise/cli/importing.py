"""`stepwise import FILE.csv`: a CSV import with a progress bar and the report (SPEC §5, §10)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

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

if TYPE_CHECKING:
    from stepwise.services.imports import ImportReport

MAX_ERRORS_SHOWN = 20


def _bar(as_json: bool) -> Progress:
    """A progress bar on stderr (gone at the end when the report is JSON)."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TextColumn("{task.fields[rows]} rows"),
        TimeRemainingColumn(),
    )
    return Progress(*columns, console=err, transient=as_json)


@app.command("import")
def import_csv(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="CSV file: a header row with `email`, data paths and `lists`")
    ],
    list_key: Annotated[str | None, typer.Option("--list", metavar="KEY", help="add every row to this list")] = None,
    trigger_events: Annotated[
        bool, typer.Option("--trigger-events", help="emit the same events as API edits (default: none at all)")
    ] = False,
    no_update: Annotated[bool, typer.Option("--no-update", help="leave existing subscribers untouched")] = False,
    account: AccountOption = "default",
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    database_url: DatabaseOption = None,
    create: CreateOption = False,
) -> None:
    """Import subscribers from a CSV file, showing progress, then print the report.

    Exit status 0: the file was imported (failed rows are in the report); 1: it was refused as a whole.
    """
    from stepwise.services.imports import ImportOptions, ImportRejected, run_import

    try:
        stream = file.open("rb")
        size = file.stat().st_size
    except OSError as exc:
        raise fail(f"cannot read {str(file)!r}: {exc.strerror or exc}") from exc
    stepwise = open_app(settings_with(database_url), create=create)
    options = ImportOptions(list_key=list_key, update_existing=not no_update, trigger_events=trigger_events)
    try:
        with stream, _bar(as_json) as bar:
            task = bar.add_task(file.name, total=size or None, rows=0)

            def show(report: dict[str, Any]) -> None:
                """Move the bar to the bytes read so far."""
                bar.update(task, completed=report["bytes"], rows=report["rows"])

            report = run_import(
                stepwise.db,
                account_id(stepwise, account),
                stream,
                options,
                stepwise.clock(),
                filename=file.name,
                progress=show,
                clock=stepwise.clock,
            )
    except ImportRejected as exc:
        for item in exc.report["errors"]:
            err.print(f"line {item['line']}: {item['message']}", highlight=False, markup=False)
        raise fail("nothing imported") from exc
    except AppError as exc:
        raise fail(exc.message) from exc
    except OSError as exc:
        raise fail(f"reading {str(file)!r} failed: {exc.strerror or exc}") from exc
    finally:
        stepwise.close()
    if as_json:
        sys.stdout.write(json.dumps(report.model_dump()) + "\n")
    else:
        _print_report(report)


def _print_report(report: ImportReport) -> None:
    console.print(
        f"rows {report.rows}: created {report.created}, updated {report.updated}, "
        f"unchanged {report.unchanged}, failed {report.failed}",
        highlight=False,
    )
    for item in report.errors[:MAX_ERRORS_SHOWN]:
        console.print(f"  line {item['line']}: {item['message']}", highlight=False, markup=False)
    if report.failed > MAX_ERRORS_SHOWN:
        console.print(f"  … {report.failed - MAX_ERRORS_SHOWN} more failed rows (see --json)", highlight=False)
