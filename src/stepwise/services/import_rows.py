"""One CSV import's header and rows: which columns are what, and the edit each row makes (SPEC §5)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from stepwise.domain.edits import Edit
from stepwise.domain.emails import MAX_LENGTH as MAX_EMAIL_LENGTH
from stepwise.domain.emails import Email, InvalidEmail, parse_email
from stepwise.domain.paths import InvalidPath, split_path
from stepwise.domain.profile import MAX_DATA_BYTES, data_problems

MAX_LIST_KEYS = 100  # list keys in one `lists` cell


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
        label = f"column {index + 1} ({short(name)})"
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


def short(value: str, limit: int = 60) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "…")


class RowError(Exception):
    """A row that cannot be imported; the message is reported with its line."""


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
    """Turn one record into an address and an edit (None for a row of empty cells); raise RowError."""
    count = len(cells)
    raw = cells[columns.email].strip() if columns.email < count else ""
    if not raw:
        if not any(c.strip() for c in cells):
            return None
        raise RowError("the email address is empty")
    if count > columns.width and any(c.strip() for c in cells[columns.width :]):
        raise RowError(f"has {count} values but the header names {columns.width} columns")
    try:
        email = address(raw)
    except InvalidEmail as exc:
        raise RowError(f"invalid email address {short(raw)}: {exc}") from exc
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
        raise RowError(f"the data is larger than {MAX_DATA_BYTES} bytes")
    joined: list[str] = []
    if columns.lists is not None and columns.lists < count and cells[columns.lists]:
        joined = [key for key in (k.strip() for k in cells[columns.lists].split(";")) if key]
        if len(joined) > MAX_LIST_KEYS:
            raise RowError(f"names more than {MAX_LIST_KEYS} lists")
        unknown = [key for key in joined if key not in known_lists]
        if unknown:
            raise RowError(f"unknown list {short(unknown[0])}" if len(unknown) == 1 else f"unknown lists {unknown}")
    if list_key is not None:
        joined.append(list_key)
    return email, Edit(data=data or None, lists_add=joined)
