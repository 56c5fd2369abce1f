"""Parameters shared by the resource modules."""

from __future__ import annotations

from typing import Annotated, Protocol, TypeVar

from fastapi import Path, Query

from stepwise.domain.emails import EMAIL_SCHEMA
from stepwise.domain.keys import KEY_PATTERN
from stepwise.services import cursors


class Keyed(Protocol):
    @property
    def key(self) -> str: ...


KeyedT = TypeVar("KeyedT", bound=Keyed)

Limit = Annotated[int, Query(ge=1, le=1000, description="page size")]
# Parameters may not hold NUL (api/checked.py refuses it); the document says so with this pattern.
NO_NUL = {"pattern": "^[^\\u0000]*$"}
# A cursor is unpadded URL-safe base64; one not made by the endpoint is refused with 400 bad_cursor.
Cursor = Annotated[
    str | None,
    Query(
        max_length=400,
        description="opaque cursor from next_cursor",
        json_schema_extra={"pattern": "^[A-Za-z0-9_-]*$"},
    ),
]
KeyPath = Annotated[str, Path(pattern=KEY_PATTERN, max_length=64)]
# Only a segment with an @ selects a route with an {email} parameter (api/checked.py), so a
# segment such as `bulk-update` reaches the route named so, or none.
EmailPath = Annotated[str, Path(max_length=320, json_schema_extra=EMAIL_SCHEMA)]
KeyFilter = Annotated[
    str | None, Query(max_length=64, description="a key (lists, drafts, sequences)", json_schema_extra=NO_NUL)
]
EmailFilter = Annotated[str | None, Query(max_length=320, description="an email address", json_schema_extra=NO_NUL)]


def page_by_key(items: list[KeyedT], cursor: str | None, limit: int) -> tuple[list[KeyedT], str | None]:
    """Page a key-sorted list of definitions (accounts hold few of them) with an opaque cursor."""
    after = cursors.decode_str(cursor) or ""
    rest = [item for item in items if item.key > after]
    chosen = rest[:limit]
    more = len(rest) > limit
    return chosen, cursors.encode(chosen[-1].key) if more and chosen else None
