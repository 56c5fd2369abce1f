"""`stepwise bounces ingest FILE|-`: bounce and complaint reports from a file, an mbox or an MTA's pipe."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from stepwise.cli.common import (
    AccountOption,
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

bounces_app = typer.Typer(help="Take in bounce and complaint reports.", no_args_is_help=True)
app.add_typer(bounces_app, name="bounces")

MAX_INPUT = 64 * 1024 * 1024
EX_TEMPFAIL = 75  # sysexits.h: an MTA's pipe transport keeps the message and tries again later


@bounces_app.command("ingest")
def bounces_ingest(
    source: Annotated[str, typer.Argument(help="a message or an mbox file; - reads standard input", metavar="FILE|-")],
    account: AccountOption = "default",
    as_json: Annotated[bool, typer.Option("--json", help="print {messages, reports, recorded, ...} as JSON")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Read RFC 3464 delivery status notifications and RFC 5965 feedback reports and take them in.

    For Postfix, a pipe transport such as `stepwise bounces ingest -` takes each bounce as it
    arrives. Exit status 0: read (repeats count once; messages that are not reports are listed);
    1: no message in the input was a report; 75: the database could not be reached (try later).
    """
    from stepwise.delivery.reports import ReportError, parse_raw, split_messages
    from stepwise.services.bounces import take_in
    from stepwise.services.transient import is_transient

    data = _read(source)
    reports, unreadable = [], []
    messages = split_messages(data) if data else []
    for number, message in enumerate(messages, 1):
        try:
            reports.extend(parse_raw(message))
        except ReportError as exc:
            unreadable.append(f"message {number}: {exc}")
    for line in unreadable:
        err.print(line, highlight=False, markup=False)
    if len(unreadable) == len(messages):
        raise fail("no delivery status notification or feedback report in the input")
    stepwise = open_app(settings_with(database_url), unreachable=EX_TEMPFAIL)
    try:
        intake = take_in(stepwise.db, account_id(stepwise, account), reports, source="cli", now=stepwise.clock())
    except AppError as exc:
        raise fail(exc.message) from exc
    except Exception as exc:
        if is_transient(exc):
            raise fail(f"the database cannot be reached: {exc}", EX_TEMPFAIL) from exc
        raise
    finally:
        stepwise.close()
    summary = {"messages": len(messages), "unreadable": len(unreadable), **intake.model_dump()}
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
    else:
        console.print(
            f"{len(messages)} message(s), {intake.received} report(s): {intake.recorded} recorded, "
            f"{intake.duplicates} seen before, {intake.unmatched} unmatched",
            highlight=False,
        )


def _read(source: str) -> bytes:
    """The input, at most MAX_INPUT bytes."""
    try:
        if source == "-":
            data = sys.stdin.buffer.read(MAX_INPUT + 1)
        else:
            with open(source, "rb") as handle:
                data = handle.read(MAX_INPUT + 1)
    except OSError as exc:
        raise fail(f"cannot read {source!r}: {exc.strerror or exc}") from exc
    if len(data) > MAX_INPUT:
        raise fail(f"the input is larger than {MAX_INPUT} bytes; split the mbox")
    return data
