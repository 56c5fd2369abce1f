"""`stepwise validate` and `stepwise apply`: definition files checked and applied (SPEC §10)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

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
    shown_url,
    sqlite_file,
)
from stepwise.config import Settings
from stepwise.errors import AppError


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="YAML or JSON definition files", metavar="FILE")],
    account: AccountOption = "default",
    strict: Annotated[
        bool, typer.Option("--strict", help="references that cannot be checked against a database are errors")
    ] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Validate definition files, checking references against the database if there is one.

    The database: STEPWISE_DATABASE_URL, --database-url, or stepwise.db here if it exists (only read).

    Without one, references to items not in the files are unchecked: a warning, an error with --strict.
    """
    from stepwise.cli.definitions import KINDS, assumed, load, outside_references
    from stepwise.cli.definitions import validate as check

    bundle = load(files)
    found = _stored_references(settings_with(database_url), database_url, account, bundle)
    unchecked: list[str] = []
    if isinstance(found, str):
        missing = outside_references(bundle)
        problems = check(bundle, assumed(missing))
        unchecked = [f"{kind[:-1]} {key!r}" for kind, keys in sorted(missing.items()) for key in sorted(keys)]
    else:
        problems = check(bundle, found[0], found[1])
    if unchecked:
        message = f"{found}: references not checked: {', '.join(unchecked)}"
        if strict:
            problems.append(message)
        else:
            err.print(f"[yellow]warning:[/yellow] {message}", highlight=False)
    if problems:
        for problem in problems:
            err.print(problem, highlight=False, markup=False)
        raise fail(f"{len(problems)} problem(s) found")
    count = sum(len(getattr(bundle, k)) for k in KINDS)
    console.print(f"ok: {count} definition(s) in {len(files)} file(s)")


def _stored_references(settings: Settings, given: str | None, account: str, bundle: Any) -> Any:
    """Read what the account holds, without creating anything: (References, draft senders), or why not."""
    from stepwise.domain.validation import referenced
    from stepwise.services.databases import stored_references

    if given is None and "database_url" not in settings.model_fields_set and not Path("stepwise.db").exists():
        return "no database (set STEPWISE_DATABASE_URL or pass --database-url)"
    try:
        file = sqlite_file(settings.database_url)
    except Exception as exc:
        return f"cannot use the database {shown_url(settings.database_url)}: {exc}"
    if file is not None and not file.exists():
        return f"no database at {file}"
    err.print(f"using database {shown_url(settings.database_url)}", highlight=False)
    keys: set[str] = set()
    for body in bundle.sequences.values():
        try:
            keys |= referenced(parse_sequence(body))["drafts"]
        except Exception:  # reported by the validation itself
            continue
    return stored_references(settings.database_url, account, keys)


def parse_sequence(body: Any) -> Any:
    from stepwise.domain.definition import SequenceDefinition

    return SequenceDefinition.model_validate(body)


@app.command()
def apply(
    files: Annotated[list[Path], typer.Argument(help="YAML or JSON definition files", metavar="FILE")],
    account: AccountOption = "default",
    database_url: DatabaseOption = None,
    create: CreateOption = False,
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            help="a changed sequence is published as a new version: migrate (open runs move to it) or pin "
            "(open runs keep their version)",
        ),
    ] = "migrate",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print each changed sequence's impact preview; change nothing")
    ] = False,
) -> None:
    """Create or update lists, drafts, forms, sequences and sending domains from files; print what changed."""
    from stepwise.cli.applying import apply_bundle, preview_bundle
    from stepwise.cli.definitions import load

    bundle = load(files)
    if bundle.problems:
        for problem in bundle.problems:
            err.print(problem, highlight=False, markup=False)
        raise fail("nothing applied")
    if mode not in ("pin", "migrate"):
        raise fail(f"--mode must be pin or migrate, not {mode!r}")
    stepwise = open_app(settings_with(database_url), create=create)
    try:
        owner = account_id(stepwise, account)
        if dry_run:
            changes = preview_bundle(stepwise, owner, bundle, mode)
        else:
            changes = apply_bundle(stepwise, owner, bundle, mode)
    except AppError as exc:
        for item in exc.details or []:
            err.print(f"{item}", highlight=False, markup=False)
        raise fail(f"{exc.message}; nothing applied") from exc
    finally:
        stepwise.close()
    for line in changes:
        console.print(line, highlight=False)
