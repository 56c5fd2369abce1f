"""CSV import (SPEC §5): a strict streaming reader, per-row errors, batched writes, a progress record.

Reading. Bytes are split into physical lines (LF, CRLF or CR) and each line is decoded on its own, so
a bad byte sequence or a NUL spoils only the record it is in. The csv module parses the lines; when it
rejects a record (an unterminated or misplaced quote, a field over the limit) or a record grows past
`MAX_RECORD_CHARS`, the record's first line is reported and parsing restarts on the line after it, so
one stray quote cannot swallow the rest of the file. Memory is bounded by the chunk size, the record
limit and the batch size, never by the file.

Writing. An import is equivalent to upserting its rows one after another through the API (data merged,
lists added, later rows of the same address win), except that with `trigger_events` off no event at
all is queued. Rows are written in batches, one transaction each, through `apply_edits`.
"""

from __future__ import annotations

import csv
import gc
import re
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from stepwise.domain.emails import MAX_LENGTH as MAX_EMAIL_LENGTH
from stepwise.domain.emails import Email, InvalidEmail, parse_email
from stepwise.domain.instants import iso
from stepwise.domain.paths import InvalidPath, split_path
from stepwise.domain.profile import MAX_DATA_BYTES, data_problems
from stepwise.errors import NotFound, Unprocessable
from stepwise.ids import new_id
from stepwise.services.subscribers import Edit, apply_edits
from stepwise.storage import imports as import_store
from stepwise.storage import lists as list_store
from stepwise.storage.codec import opt_from_us, to_us
from stepwise.storage.database import Database
from stepwise.storage.imports import ImportRow

CHUNK_BYTES = 1 << 20
MAX_LINE_BYTES = 1 << 20  # a longer physical line is reported and skipped
MAX_RECORD_CHARS = 256 * 1024  # a record (possibly several lines) larger than this is reported
UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class FileProblem(Exception):
    """The file as a whole cannot be read as CSV (empty, or not UTF-8 at all)."""


@dataclass(frozen=True, slots=True)
class Record:
    """A parsed record starting on `line`, or (cells None) the reason it could not be parsed."""

    line: int
    cells: list[str] | None
    problem: str | None = None


class _RecordTooLarge(Exception):
    pass


class _Lines:
    """Hands the decoded physical lines of a byte stream to the csv module, one at a time.

    It numbers lines from 1, notes lines that are not UTF-8, hold a NUL or are too long, and keeps
    the lines of the record being parsed so that they can be replayed after a bad record.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._chunks = self._decoded(stream)
        self._texts: list[str] = []
        self._pos = 0
        self._replayed: deque[tuple[int, str]] = deque()
        self.bytes_read = 0
        self.number = 0  # of the last line read from the stream
        self.problems: dict[int, str] = {}  # line number -> what is wrong with it
        self.first = 0  # number of the current record's first line
        self.consumed: list[tuple[int, str]] = []
        self.size = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self._replayed:
            number, text = self._replayed.popleft()
        else:
            if self._pos == len(self._texts):
                self._texts, self._pos = next(self._chunks), 0  # StopIteration ends the csv reader
            text = self._texts[self._pos]
            self._pos += 1
            self.number += 1
            number = self.number
        if not self.consumed:
            self.first = number
        self.consumed.append((number, text))
        self.size += len(text)
        if self.size > MAX_RECORD_CHARS and len(self.consumed) > 1:
            raise _RecordTooLarge
        return text

    def take(self) -> list[tuple[int, str]]:
        """Return the lines of the record just parsed and start a new record."""
        taken, self.consumed, self.size = self.consumed, [], 0
        return taken

    def replay(self, lines: list[tuple[int, str]]) -> None:
        self._replayed.extendleft(reversed(lines))

    def problem_in(self, lines: list[tuple[int, str]]) -> tuple[int, str] | None:
        """Return the first noted problem among these lines, forgetting theirs."""
        if not self.problems:
            return None
        found = [(number, self.problems.pop(number)) for number, _ in lines if number in self.problems]
        return found[0] if found else None

    def _decoded(self, stream: BinaryIO) -> Iterator[list[str]]:
        first = True
        for lines, too_long in self._split(stream):
            if first and lines:
                first = False
                if lines[0].startswith(UTF16_BOMS):
                    raise FileProblem("the file is UTF-16 encoded; save it as UTF-8 (with or without BOM)")
                if lines[0].startswith(UTF8_BOM):
                    lines[0] = lines[0][len(UTF8_BOM) :]
            base = self.number + len(self._texts) - self._pos  # lines read before this chunk
            try:
                texts = [line.decode() for line in lines]
            except UnicodeDecodeError:
                texts = []
                for index, line in enumerate(lines):
                    try:
                        texts.append(line.decode())
                    except UnicodeDecodeError:
                        texts.append(line.decode("utf-8", "replace"))
                        self.problems[base + index + 1] = "is not valid UTF-8 text"
            if "\0" in "".join(texts):
                for index, text in enumerate(texts):
                    if "\0" in text:
                        self.problems[base + index + 1] = "contains a NUL byte"
            if too_long:
                self.problems[base + len(texts)] = f"is longer than {MAX_LINE_BYTES} bytes"
            if texts:
                yield texts

    def _split(self, stream: BinaryIO) -> Iterator[tuple[list[bytes], bool]]:
        """Yield the complete lines of each chunk; a line over the limit ends a chunk as a bare break."""
        carry = b""
        skipping = False  # inside a line that is too long: drop bytes until its end
        while True:
            chunk = stream.read(CHUNK_BYTES)
            if not chunk:
                break
            self.bytes_read += len(chunk)
            if skipping:
                cut = _first_break(chunk)
                if cut < 0:
                    continue
                skipping = False
                chunk = chunk[cut + (2 if chunk[cut : cut + 2] == b"\r\n" else 1) :]
            data = carry + chunk if carry else chunk
            lines = data.splitlines(keepends=True)
            # The last piece may be unfinished, or a CR whose LF is in the next chunk.
            carry = lines.pop() if lines and not lines[-1].endswith(b"\n") else b""
            if len(carry) > MAX_LINE_BYTES:
                carry = b""
                skipping = True
                lines.append(b"\n")
            yield lines, skipping
        if carry:
            yield [carry], False


def _first_break(chunk: bytes) -> int:
    found = [i for i in (chunk.find(b"\n"), chunk.find(b"\r")) if i >= 0]
    return min(found) if found else -1


def sniff_delimiter(header: str) -> str:
    """Pick the delimiter from the header line: comma unless only semicolons or tabs appear."""
    if "," in header:
        return ","
    for candidate in (";", "\t"):
        if candidate in header:
            return candidate
    return ","


class CsvReader:
    """Iterate the records of a CSV byte stream; `bytes_read` tells progress."""

    def __init__(self, stream: BinaryIO) -> None:
        self._lines = _Lines(stream)

    @property
    def bytes_read(self) -> int:
        return self._lines.bytes_read

    def __iter__(self) -> Iterator[Record]:
        lines = self._lines
        first = next(lines, None)
        if first is None:
            raise FileProblem("the file is empty; its first line must name the columns (email, …)")
        lines.replay(lines.take())
        delimiter = sniff_delimiter(first)
        reader = csv.reader(lines, delimiter=delimiter, strict=True)
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except (csv.Error, _RecordTooLarge) as exc:
                consumed = lines.take()
                lines.problem_in(consumed[:1])  # reported with this record; later lines are replayed
                yield Record(consumed[0][0], None, _describe(exc, len(consumed)))
                lines.replay(consumed[1:])
                reader = csv.reader(lines, delimiter=delimiter, strict=True)
                continue
            consumed = lines.take()
            bad = lines.problem_in(consumed)
            if bad is not None:
                where = "the line" if bad[0] == lines.first else f"line {bad[0]}"
                yield Record(lines.first, None, f"{where} {bad[1]}")
                continue
            yield Record(lines.first, cells)


def _describe(exc: Exception, lines: int) -> str:
    if isinstance(exc, _RecordTooLarge):
        return f"the record is larger than {MAX_RECORD_CHARS} characters (an unterminated quote?)"
    message = str(exc)
    if "unexpected end of data" in message or (lines > 1 and "expected after" in message):
        return "a quoted field is not terminated (a quote opened here is never closed)"
    if "field larger than field limit" in message:
        return f"a field is larger than {csv.field_size_limit()} characters"
    if "new-line character seen in unquoted field" in message:
        return "a line break inside an unquoted field"
    return f"malformed CSV: {message}"


# --- The import ------------------------------------------------------------------------------------

BATCH_ROWS = 2000  # rows per transaction: large enough to amortise statements, small enough to not block
MAX_ERRORS = 1000  # row errors kept in the report; the `failed` count stays exact
MAX_LIST_KEYS = 100  # list keys in one `lists` cell
_REPORT = ("rows", "created", "updated", "unchanged", "failed")


@dataclass
class ImportOptions:
    """What to do with the rows (SPEC §5)."""

    list_key: str | None = None
    update_existing: bool = True
    trigger_events: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"list": self.list_key, "update_existing": self.update_existing, "trigger_events": self.trigger_events}


class ImportRejected(Unprocessable):
    """The file cannot be imported at all (no usable header, not UTF-8, empty); nothing was written."""

    def __init__(self, report: dict[str, Any]) -> None:
        first = report["errors"][0]["message"] if report["errors"] else "the file cannot be imported"
        super().__init__(f"line 1: {first}", code="invalid_csv", details=report)
        self.report = report


@dataclass(frozen=True, slots=True)
class Columns:
    """What the header says: where the address is, which columns are data paths, where lists are."""

    email: int
    lists: int | None
    paths: tuple[tuple[int, tuple[str, ...]], ...]
    width: int


def read_header(cells: list[str]) -> Columns:
    """Validate the header row; raise ValueError with every problem, one per line."""
    problems: list[str] = []
    email = lists = None
    paths: list[tuple[int, tuple[str, ...]]] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(cells):
        name = raw.strip()
        label = f"column {index + 1} ({_short(name)})"
        if not name:
            continue  # unnamed (often trailing) columns carry nothing we could store
        lowered = name.lower()
        if lowered in seen or name in seen:
            problems.append(f"{label} repeats column {seen.get(lowered, seen.get(name, 0)) + 1}")
            continue
        if lowered == "email":
            email, seen[lowered] = index, index
        elif lowered == "lists":
            lists, seen[lowered] = index, index
        else:
            try:
                paths.append((index, split_path(name)))
                seen[name] = index
            except InvalidPath as exc:
                problems.append(f"{label}: a column is `email`, `lists` or a data path such as base.firstName; {exc}")
    for (i, a), (j, b) in ((x, y) for x in paths for y in paths if x[0] < y[0]):
        if a[: len(b)] == b or b[: len(a)] == a:
            problems.append(f"columns {i + 1} ({'.'.join(a)}) and {j + 1} ({'.'.join(b)}) overlap")
    if email is None:
        problems.insert(0, "the header has no `email` column")
    if problems:
        raise ValueError("\n".join(problems))
    assert email is not None
    return Columns(email, lists, tuple(paths), len(cells))


def _short(value: str, limit: int = 60) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "…")


class _RowError(Exception):
    pass


_SIMPLE_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_SIMPLE_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_SIMPLE_ADDRESS = re.compile(rf"{_SIMPLE_ATOM}(?:\.{_SIMPLE_ATOM})*@(?:{_SIMPLE_LABEL}\.)+{_SIMPLE_LABEL}")


def address(raw: str) -> Email:
    """Return `parse_email(raw)`, quickly for plain ASCII addresses (the bulk of any file)."""
    text = raw.strip()
    if len(text) <= MAX_EMAIL_LENGTH and _SIMPLE_ADDRESS.fullmatch(text):
        local, _, domain = text.rpartition("@")
        if len(local) <= 64 and not domain.rpartition(".")[2].isdigit():
            value = f"{local}@{domain.lower()}"
            return Email(value, value.lower())
    return parse_email(raw)


def row_edit(
    cells: list[str], columns: Columns, known_lists: frozenset[str], list_key: str | None
) -> tuple[Email, Edit] | None:
    """Turn one record into an address and an edit (None for a row of empty cells); raise _RowError."""
    count = len(cells)
    raw = cells[columns.email].strip() if columns.email < count else ""
    if not raw:
        if not any(c.strip() for c in cells):
            return None
        raise _RowError("the email address is empty")
    if count > columns.width and any(c.strip() for c in cells[columns.width :]):
        raise _RowError(f"has {count} values but the header names {columns.width} columns")
    try:
        email = address(raw)
    except InvalidEmail as exc:
        raise _RowError(f"invalid email address {_short(raw)}: {exc}") from exc
    data: dict[str, Any] = {}
    size = 0
    for index, parts in columns.paths:
        value = cells[index].strip() if index < count else ""
        if value:  # an empty cell leaves the field as it is
            size += len(value)
            node = data
            for part in parts[:-1]:
                child = node.get(part)
                if child is None:
                    child = node[part] = {}
                node = child
            node[parts[-1]] = value
    if size > MAX_DATA_BYTES // 4 and data_problems(data):
        raise _RowError(f"the data is larger than {MAX_DATA_BYTES} bytes")
    joined: list[str] = []
    if columns.lists is not None and columns.lists < count and cells[columns.lists]:
        joined = [key for key in (k.strip() for k in cells[columns.lists].split(";")) if key]
        if len(joined) > MAX_LIST_KEYS:
            raise _RowError(f"names more than {MAX_LIST_KEYS} lists")
        unknown = [key for key in joined if key not in known_lists]
        if unknown:
            raise _RowError(f"unknown list {_short(unknown[0])}" if len(unknown) == 1 else f"unknown lists {unknown}")
    if list_key is not None:
        joined.append(list_key)
    return email, Edit(data=data or None, lists_add=joined)


class _Run:
    """One import in progress: counts, errors and the pending batch."""

    def __init__(self, db: Database, account_id: int, import_id: str, options: ImportOptions, now: datetime) -> None:
        self.db = db
        self.account_id = account_id
        self.id = import_id
        self.options = options
        self.now = now
        self.list_ids: dict[str, int] = {}
        self.counts = dict.fromkeys(_REPORT, 0)
        self.errors: list[dict[str, Any]] = []
        self.seen = import_store.SeenAddresses()
        self.batch: dict[str, tuple[int, Email, Edit]] = {}  # by address key, in row order
        self.batch_errors: list[tuple[int, str]] = []
        self.events = False

    def add(self, line: int, email: Email, edit: Edit) -> None:
        first = self.batch.get(email.key)
        if first is not None:
            self.fail_row(line, _duplicate(email, first[0]))
        else:
            self.batch[email.key] = (line, email, edit)

    def fail_row(self, line: int, message: str) -> None:
        self.batch_errors.append((line, message))

    def flush(self) -> None:
        """Write the pending rows, their errors and the progress in one transaction."""
        items, self.batch = list(self.batch.values()), {}
        earlier = self.seen.first_lines([email.key for _, email, _ in items])
        errors = self.batch_errors
        self.batch_errors = []
        if earlier:
            errors += [
                (line, _duplicate(email, earlier[email.key])) for line, email, _ in items if email.key in earlier
            ]
            items = [item for item in items if item[1].key not in earlier]
        errors.sort(key=lambda e: e[0])
        room = max(0, MAX_ERRORS - len(self.errors))
        new_errors = [{"line": line, "message": message} for line, message in errors[:room]]
        for attempt in range(3):
            try:
                with self.db.write() as conn:
                    counts = self._apply(conn, [(email, edit) for _, email, edit in items])
                    counts["rows"] += len(errors)
                    counts["failed"] += len(errors)
                    import_store.record(conn, self.id, counts, self.errors + new_errors if new_errors else None)
                break
            except IntegrityError:
                # Another writer created one of these addresses after we looked (PostgreSQL): look again.
                if attempt == 2:
                    raise
        self.seen.add([(email.key, line) for line, email, _ in items])
        self.counts = counts
        self.errors += new_errors

    def _apply(self, conn: Connection, items: list[tuple[Email, Edit]]) -> dict[str, int]:
        counts = dict(self.counts)
        if not items:
            return counts
        outcomes = apply_edits(
            conn,
            self.account_id,
            items,
            source="import",
            now=self.now,
            update=self.options.update_existing,
            emit=self.options.trigger_events,
            list_ids=self.list_ids,
            fresh_data=True,
        )
        for outcome in outcomes:
            counts["created" if outcome.created else "updated" if outcome.touched else "unchanged"] += 1
        counts["rows"] += len(outcomes)
        self.events = self.events or (self.options.trigger_events and any(o.touched for o in outcomes))
        return counts

    def report(self) -> dict[str, Any]:
        return {"id": self.id, **self.counts, "errors": list(self.errors)}

    def close(self) -> None:
        self.seen.close()


def _duplicate(email: Email, first_line: int) -> str:
    return f"the address {_short(email.value)} already appeared on line {first_line}; only that row is imported"


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
) -> dict[str, Any]:
    """Import a CSV stream and return the report {id, rows, created, updated, unchanged, failed, errors}.

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
        except ImportRejected as exc:
            _finish(db, run, "failed", end)
            exc.report["id"] = run.id
            raise
        except Exception:
            _finish(db, run, "failed", end, note="the import stopped: an internal error occurred")
            raise
        _finish(db, run, "done", end)
    finally:
        run.close()
    if run.events:
        db.wakeup.set()
    report = run.report()
    if progress is not None:
        progress({**report, "bytes": reader.bytes_read, "status": "done"})
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
            except _RowError as exc:
                run.fail_row(record.line, str(exc))
            else:
                if row is not None:
                    run.add(record.line, *row)
        if len(run.batch) + len(run.batch_errors) >= BATCH_ROWS:
            run.flush()
            if progress is not None:
                progress({**run.report(), "bytes": reader.bytes_read, "status": "running"})
    run.flush()


def _finish(db: Database, run: _Run, status: str, clock: Callable[[], datetime], note: str | None = None) -> None:
    if note and len(run.errors) < MAX_ERRORS:
        run.errors.append({"line": None, "message": note})
    try:
        with db.write() as conn:
            import_store.record(conn, run.id, run.counts, run.errors, status=status, finished_at=to_us(clock()))
    except Exception:
        if status == "done":
            raise
        # Recording a failure must not hide the error that caused it.


def view(row: ImportRow) -> dict[str, Any]:
    """The API shape of an import record."""
    started = opt_from_us(row.started_at)
    finished = opt_from_us(row.finished_at)
    return {
        "id": row.id,
        "filename": row.filename,
        "status": row.status,
        "options": row.options,
        **{name: getattr(row, name) for name in _REPORT},
        "errors": row.errors,
        "started_at": iso(started) if started else None,
        "finished_at": iso(finished) if finished else None,
    }


def get_import(db: Database, account_id: int, import_id: str) -> dict[str, Any]:
    """Return one import record (404 for an unknown id or another account's import)."""
    with db.read() as conn:
        row = import_store.get(conn, account_id, import_id) if len(import_id) <= 32 else None
    if row is None:
        raise NotFound(f"no import {import_id!r}")
    return view(row)


def list_imports(db: Database, account_id: int, limit: int = 50) -> list[dict[str, Any]]:
    """Return the account's newest imports first."""
    with db.read() as conn:
        return [view(row) for row in import_store.recent(conn, account_id, limit)]
