"""CSV import (SPEC §5): header and row rules, batched writes with the API's events, a progress record.

Each row is an upsert as through the API (data merged, lists added, status left alone), except that
with `trigger_events` off no event at all is queued. The first row of an address is imported and
later rows of the same address are reported, so that running a file again changes nothing. Rows are
read by `csvreader` (bad records are reported by line) and written in batches, one transaction each,
through `apply_edits`; memory is bounded by the batch size, never by the file.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any, BinaryIO

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError
from typing_extensions import TypedDict

from stepwise.domain.edits import Edit
from stepwise.domain.emails import Email
from stepwise.domain.instants import iso
from stepwise.domain.statuses import ImportStatus
from stepwise.errors import NotFound, Unprocessable
from stepwise.ids import new_id
from stepwise.services.batch_edits import apply_edits
from stepwise.services.csvreader import CsvReader, FileProblem
from stepwise.services.import_rows import RowError, read_header, row_edit, short
from stepwise.storage import imports as import_store
from stepwise.storage import lists as list_store
from stepwise.storage import subscribers as subscriber_store
from stepwise.storage.codec import opt_from_us, to_us
from stepwise.storage.database import Database
from stepwise.storage.imports import ImportCounts, ImportRow

BATCH_ROWS = 2000  # rows per transaction: large enough to amortise statements, small enough to not block
# PostgreSQL plans by statistics that a bulk load makes stale: refreshed while an import creates many
# subscribers, and at its end (so that the next import, and the worker, find them by index).
ANALYZE_EVERY = 100_000
ANALYZE_AT_END = 10_000
MAX_ERRORS = 1000  # row errors kept in the report; the `failed` count stays exact


@dataclass
class ImportOptions:
    """What to do with the rows (SPEC §5)."""

    list_key: str | None = None
    update_existing: bool = True
    trigger_events: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Return the options as the API names them."""
        return {"list": self.list_key, "update_existing": self.update_existing, "trigger_events": self.trigger_events}


class RowProblem(TypedDict):
    """Why a row was not imported (`line` None: a note about the whole import)."""

    line: int | None
    message: str


class ImportReport(BaseModel):
    """What an import did: its counts and the first row errors (line 1 is the header)."""

    model_config = ConfigDict(frozen=True)

    id: str
    rows: int
    created: int
    updated: int
    unchanged: int
    failed: int
    errors: list[RowProblem]


class ImportRejected(Unprocessable):
    """The file cannot be imported at all (no usable header, not UTF-8, empty); nothing was written."""

    def __init__(self, report: ImportReport) -> None:
        first = report.errors[0]["message"] if report.errors else "the file cannot be imported"
        self.report = report.model_dump()  # the error's details
        super().__init__(f"line 1: {first}", code="invalid_csv", details=self.report)


class _Run:
    """One import in progress: counts, errors and the pending batch."""

    def __init__(self, db: Database, account_id: int, import_id: str, options: ImportOptions, now: datetime) -> None:
        self.db = db
        self.account_id = account_id
        self.id = import_id
        self.options = options
        self.now = now
        self.list_ids: dict[str, int] = {}
        self.counts = ImportCounts()
        self.errors: list[dict[str, Any]] = []
        self.seen = import_store.SeenAddresses()
        self.batch: dict[str, tuple[int, Email, Edit]] = {}  # by address key, in row order
        self.batch_errors: list[tuple[int, str]] = []
        self.events = False
        self.unanalyzed = 0  # subscribers created since the planner's statistics were last refreshed

    def add(self, line: int, email: Email, edit: Edit) -> None:
        """Queue a row for the next batch (a repeat of an address in this batch fails at once)."""
        first = self.batch.get(email.key)
        if first is not None:
            self.fail_row(line, _duplicate(email, first[0]))
        else:
            self.batch[email.key] = (line, email, edit)

    def fail_row(self, line: int, message: str) -> None:
        """Count a row that cannot be imported; its error is written with the next batch."""
        self.batch_errors.append((line, message))

    def flush(self) -> None:
        """Write the pending rows, their errors and the progress in one transaction."""
        pending, self.batch = list(self.batch.values()), {}
        row_errors, self.batch_errors = self.batch_errors, []
        for attempt in range(3):
            try:
                with self.db.write() as conn:
                    items, errors, counts = self._apply(conn, pending, row_errors)
                break
            except IntegrityError:
                # Another writer created one of these addresses after we looked (PostgreSQL): look again.
                if attempt == 2:
                    raise
        self.seen.add([(email.key, line) for line, email, _ in items])
        self.errors += errors
        self.unanalyzed += counts.created - self.counts.created
        self.counts = counts
        if self.unanalyzed >= ANALYZE_EVERY:
            self.refresh_statistics()

    def refresh_statistics(self) -> None:
        """Refresh the planner's statistics of the tables an import fills (PostgreSQL; SQLite needs none)."""
        if self.unanalyzed and not self.db.is_sqlite:
            with self.db.write() as conn:
                import_store.refresh_statistics(conn)
            self.unanalyzed = 0

    def _apply(
        self, conn: Connection, pending: list[tuple[int, Email, Edit]], row_errors: list[tuple[int, str]]
    ) -> tuple[list[tuple[int, Email, Edit]], list[dict[str, Any]], ImportCounts]:
        """Write a batch; return the rows written, the errors to report (repeats included) and the counts."""
        existing = subscriber_store.find_many_locked(conn, self.account_id, [email.key for _, email, _ in pending])
        # An address this import wrote before exists now, so only addresses found can be repeats.
        earlier = self.seen.first_lines(list(existing)) if existing else {}
        errors = list(row_errors)
        items = pending
        if earlier:
            errors += [(line, _duplicate(e, earlier[e.key])) for line, e, _ in pending if e.key in earlier]
            items = [item for item in pending if item[1].key not in earlier]
        errors.sort(key=lambda e: e[0])
        counts = self.counts
        if items:
            outcomes = apply_edits(
                conn,
                self.account_id,
                [(email, edit) for _, email, edit in items],
                source="import",
                now=self.now,
                update=self.options.update_existing,
                emit=self.options.trigger_events,
                list_ids=self.list_ids,
                existing=existing,
                fresh_data=True,
            )
            created = sum(1 for o in outcomes if o.created)
            updated = sum(1 for o in outcomes if o.touched and not o.created)
            counts = replace(
                counts,
                rows=counts.rows + len(outcomes),
                created=counts.created + created,
                updated=counts.updated + updated,
                unchanged=counts.unchanged + len(outcomes) - created - updated,
            )
            self.events = self.events or (self.options.trigger_events and any(o.touched for o in outcomes))
        counts = replace(counts, rows=counts.rows + len(errors), failed=counts.failed + len(errors))
        room = max(0, MAX_ERRORS - len(self.errors))
        shown = [{"line": line, "message": message} for line, message in errors[:room]]
        import_store.record(conn, self.id, counts, self.errors + shown if shown else None)
        return items, shown, counts

    def report(self) -> ImportReport:
        """Return the report so far."""
        return ImportReport(id=self.id, **asdict(self.counts), errors=list(self.errors))

    def close(self) -> None:
        """Drop the scratch list of addresses."""
        self.seen.close()


def _duplicate(email: Email, first_line: int) -> str:
    return f"the address {short(email.value)} already appeared on line {first_line}; only that row is imported"


def run_import(
    db: Database,
    account_id: int,
    stream: BinaryIO,
    options: ImportOptions,
    now: datetime,
    *,
    filename: str | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> ImportReport:
    """Import a CSV stream and return its report.

    The import is recorded (and its counts kept current) in the imports table as it goes. A file that
    cannot be imported at all raises ImportRejected (its report is recorded as failed); an unknown
    `list` option raises Unprocessable before anything is recorded. `progress` gets the report so far
    plus `bytes` read after every batch; `clock` dates the end (default: `now`).
    """
    with db.read() as conn:
        known = list_store.keys(conn, account_id)
    if options.list_key is not None and options.list_key not in known:
        raise Unprocessable.one("$.list", f"unknown list {options.list_key!r}")
    run = _Run(db, account_id, new_id(), options, now)
    end = clock or (lambda: now)
    try:
        with db.write() as conn:
            import_store.create(conn, run.id, account_id, filename, options.as_dict(), to_us(now))
            run.list_ids = list_store.ids_by_key(conn, account_id, known)
        reader = CsvReader(stream)
        try:
            with _collector_spares_the_application():
                _read(reader, run, known, progress)
        except ImportRejected:
            _finish(db, run, "failed", end)
            raise
        except Exception:
            _finish(db, run, "failed", end, note="the import stopped: an internal error occurred")
            raise
        _finish(db, run, "done", end)
        if run.unanalyzed >= ANALYZE_AT_END:
            run.refresh_statistics()
    finally:
        run.close()
    report = run.report()
    if progress is not None:
        progress({**report.model_dump(), "bytes": reader.bytes_read, "status": "done"})
    return report


@contextmanager
def _collector_spares_the_application() -> Iterator[None]:
    """Keep the cyclic garbage collector off the objects that existed before the import.

    The rows of a batch live long enough to reach the oldest generation, so an import triggers many
    full collections; each would walk every object of the application (modules, metadata, caches),
    which costs about a third of the import's time. Frozen objects are merely skipped, and they are
    handed back to the collector afterwards.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _read(
    reader: CsvReader, run: _Run, known: frozenset[str], progress: Callable[[dict[str, Any]], None] | None
) -> None:
    records = iter(reader)
    try:
        header = next(records, None)
        if header is None:
            raise FileProblem("the file is empty; its first line must name the columns (email, …)")
        if header.cells is None:
            raise FileProblem(f"the header cannot be read: {header.problem}")
        columns = read_header(header.cells)
    except (FileProblem, ValueError) as exc:
        run.errors = [{"line": 1, "message": message} for message in str(exc).split("\n")]
        raise ImportRejected(run.report()) from exc
    list_key = run.options.list_key
    for record in records:
        cells = record.cells
        if cells is None:
            run.fail_row(record.line, record.problem or "cannot be read")
        elif any(cells):  # blank lines (and, below, rows of empty cells) are no rows
            try:
                row = row_edit(cells, columns, known, list_key)
            except RowError as exc:
                run.fail_row(record.line, str(exc))
            else:
                if row is not None:
                    run.add(record.line, *row)
        if len(run.batch) + len(run.batch_errors) >= BATCH_ROWS:
            run.flush()
            if progress is not None:
                progress({**run.report().model_dump(), "bytes": reader.bytes_read, "status": "running"})
    run.flush()


def _finish(
    db: Database, run: _Run, status: ImportStatus, clock: Callable[[], datetime], note: str | None = None
) -> None:
    if note and len(run.errors) < MAX_ERRORS:
        run.errors.append({"line": None, "message": note})
    try:
        with db.write() as conn:
            import_store.record(conn, run.id, run.counts, run.errors, status=status, finished_at=to_us(clock()))
    except Exception:
        if status == "done":
            raise
        # Recording a failure must not hide the error that caused it.


class ImportRecord(BaseModel):
    """An import as the API and the UI show it (times ISO-8601, errors by line)."""

    model_config = ConfigDict(frozen=True)

    id: str
    filename: str | None
    status: ImportStatus
    options: dict[str, Any]
    rows: int
    created: int
    updated: int
    unchanged: int
    failed: int
    errors: list[RowProblem]
    started_at: str | None
    finished_at: str | None


class ImportsOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[ImportRecord]


def view(row: ImportRow) -> ImportRecord:
    started = opt_from_us(row.started_at)
    finished = opt_from_us(row.finished_at)
    return ImportRecord(
        id=row.id,
        filename=row.filename,
        status=row.status,
        options=row.options,
        rows=row.rows,
        created=row.created,
        updated=row.updated,
        unchanged=row.unchanged,
        failed=row.failed,
        errors=row.errors,
        started_at=iso(started) if started else None,
        finished_at=iso(finished) if finished else None,
    )


def get_import(db: Database, account_id: int, import_id: str) -> ImportRecord:
    """Return one import record (404 for an unknown id or another account's import)."""
    with db.read() as conn:
        row = import_store.get(conn, account_id, import_id) if len(import_id) <= 32 else None
    if row is None:
        raise NotFound(f"no import {import_id!r}")
    return view(row)


def list_imports(db: Database, account_id: int, limit: int = 50) -> list[ImportRecord]:
    """Return the account's newest imports first."""
    with db.read() as conn:
        return [view(row) for row in import_store.recent(conn, account_id, limit)]
