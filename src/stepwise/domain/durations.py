"""Durations such as "90s", "1d12h" or ISO-8601 "PT90M"."""

from __future__ import annotations

import re
from datetime import timedelta

_COMPACT = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_ISO = re.compile(
    r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$",
)
MAX_DURATION = timedelta(days=3660)


class InvalidDuration(ValueError):
    """The text is not a duration we understand."""


def parse_duration(text: str) -> timedelta:
    """Parse a positive duration; raise InvalidDuration with a reason."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidDuration("must be a non-empty string such as '3d' or 'PT90M'")
    raw = text.strip()
    match = _COMPACT.match(raw)
    if match and any(match.groups()):
        weeks, days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
        result = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
    else:
        iso = _ISO.match(raw.upper())
        if not iso or not any(iso.groups()) or raw.upper().endswith("T"):
            raise InvalidDuration(f"{text!r} is not a duration such as '90s', '1d12h' or 'PT90M'")
        weeks, days, hours, minutes = (int(g) if g else 0 for g in iso.groups()[:4])
        secs = float(iso.group(5)) if iso.group(5) else 0.0
        result = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=secs)
    if result <= timedelta(0):
        raise InvalidDuration("must be longer than zero")
    if result > MAX_DURATION:
        raise InvalidDuration("must not exceed ten years")
    return result
