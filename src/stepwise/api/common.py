"""Parameters shared by the resource modules."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query

from stepwise.domain.keys import KEY_PATTERN
from stepwise.services import cursors

Limit = Annotated[int, Query(ge=1, le=1000, description="page size")]
Cursor = Annotated[str | None, Query(max_length=400, description="opaque cursor from next_cursor")]
KeyPath = Annotated[str, Path(pattern=KEY_PATTERN, max_length=64)]
EmailPath = Annotated[str, Path(max_length=320)]


def page_by_key(items: list[dict[str, Any]], cursor: str | None, limit: int) -> dict[str, Any]:
    """Page a key-sorted list of definitions (accounts hold few of them) with an opaque cursor."""
    after = cursors.decode_str(cursor) or ""
    rest = [item for item in items if item["key"] > after]
    chosen = rest[:limit]
    more = len(rest) > limit
    return {"items": chosen, "next_cursor": cursors.encode(chosen[-1]["key"]) if more and chosen else None}
