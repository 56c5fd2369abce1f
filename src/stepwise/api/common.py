"""Parameters shared by the resource modules."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from stepwise.domain.keys import KEY_PATTERN

Limit = Annotated[int, Query(ge=1, le=1000, description="page size")]
Cursor = Annotated[str | None, Query(max_length=400, description="opaque cursor from next_cursor")]
KeyPath = Annotated[str, Path(pattern=KEY_PATTERN, max_length=64)]
EmailPath = Annotated[str, Path(max_length=320)]
