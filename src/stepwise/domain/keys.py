"""Account-unique keys of lists, drafts, forms and sequences."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import StringConstraints

KEY_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_KEY = re.compile(KEY_PATTERN)

Key = Annotated[str, StringConstraints(pattern=KEY_PATTERN)]


def is_key(text: str) -> bool:
    """Tell whether text is a valid key slug."""
    return bool(_KEY.match(text))
