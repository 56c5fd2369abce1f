"""A strict, streaming CSV reader that reports bad records by line and keeps going (SPEC §5).

Bytes are split into physical lines (LF, CRLF or CR) and each line is decoded on its own, so a bad
byte sequence or a NUL spoils only the record it is in. The csv module parses the lines; when it
rejects a record (an unterminated or misplaced quote, a field over the limit) or a record grows past
`MAX_RECORD_CHARS`, the record's first line is reported and parsing restarts on the line after it,
so one stray quote cannot swallow the rest of the file. Memory is bounded by the chunk size and the
record limit, never by the file. The delimiter is a comma, or a semicolon or tab when the header
line has only those.
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

CHUNK_BYTES = 1 << 20
MAX_LINE_BYTES = 1 << 20  # a longer physical line is reported and skipped
MAX_RECORD_CHARS = 256 * 1024  # a record (possibly several lines) larger than this is reported
UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class FileProblem(Exception):
    """The file as a whole cannot be read as CSV (empty, or not UTF-8 at all)."""


@dataclass(slots=True)
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
        self.first = 0  # number of the current record's first line; its lines are consecutive
        self.consumed: list[str] = []
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
        consumed = self.consumed
        if not consumed:
            self.first = number
        consumed.append(text)
        self.size += len(text)
        if self.size > MAX_RECORD_CHARS and len(consumed) > 1:
            raise _RecordTooLarge
        return text

    def take(self) -> list[str]:
        """Return the lines of the record just parsed (from line `first`) and start a new record."""
        taken, self.consumed, self.size = self.consumed, [], 0
        return taken

    def replay(self, first: int, texts: list[str]) -> None:
        """Hand these lines (numbered from `first`) to the csv module again, before any new line."""
        self._replayed.extendleft(reversed(list(enumerate(texts, first))))

    def problem_in(self, first: int, count: int) -> tuple[int, str] | None:
        """Return the first noted problem of lines first..first+count-1, forgetting theirs."""
        if not self.problems:
            return None
        found = [(n, self.problems.pop(n)) for n in range(first, first + count) if n in self.problems]
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
        """Bytes taken from the stream so far."""
        return self._lines.bytes_read

    def __iter__(self) -> Iterator[Record]:
        lines = self._lines
        first = next(lines, None)
        if first is None:
            raise FileProblem("the file is empty; its first line must name the columns (email, …)")
        lines.replay(1, lines.take())
        delimiter = sniff_delimiter(first)
        reader = csv.reader(lines, delimiter=delimiter, strict=True)
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except (csv.Error, _RecordTooLarge) as exc:
                start, consumed = lines.first, lines.take()
                lines.problem_in(start, 1)  # reported with this record; the later lines are read again
                yield Record(start, None, _describe(exc, len(consumed)))
                lines.replay(start + 1, consumed[1:])
                reader = csv.reader(lines, delimiter=delimiter, strict=True)
                continue
            start, count = lines.first, len(lines.take())
            bad = lines.problem_in(start, count) if lines.problems else None
            if bad is not None:
                where = "the line" if bad[0] == start else f"line {bad[0]}"
                yield Record(start, None, f"{where} {bad[1]}")
                continue
            yield Record(start, cells)


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
