"""Durations such as "90s", "1d12h" or ISO-8601 "PT90M"."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

_COMPACT = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_ISO = re.compile(
    r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$",
)
MAX_DURATION = timedelta(days=3660)
MAX_SECONDS = int(MAX_DURATION.total_seconds())
MAX_TEXT = 64
_UNITS = (7 * 86400, 86400, 3600, 60, 1)  # weeks, days, hours, minutes, seconds


class InvalidDuration(ValueError):
    """The text is not a duration we understand."""


def parse_duration(text: str) -> timedelta:
    """Parse a positive duration of at most ten years; raise InvalidDuration with a reason."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidDuration("must be a non-empty string such as '3d' or 'PT90M'")
    raw = text.strip()
    if len(raw) > MAX_TEXT:
        raise InvalidDuration(f"must be at most {MAX_TEXT} characters, such as '90s', '1d12h' or 'PT90M'")
    match = _COMPACT.match(raw)
    if match and any(match.groups()):
        counts = [int(g) if g else 0 for g in match.groups()]
        fraction = Decimal(0)
    else:
        iso = _ISO.match(raw.upper())
        if not iso or not any(iso.groups()) or raw.upper().endswith("T"):
            raise InvalidDuration(f"{_shown(text)} is not a duration such as '90s', '1d12h' or 'PT90M'")
        counts = [int(g) if g else 0 for g in iso.groups()[:4]] + [0]
        fraction = Decimal(iso.group(5)) if iso.group(5) else Decimal(0)
    seconds = sum(count * unit for count, unit in zip(counts, _UNITS, strict=True)) + fraction
    if seconds <= 0:
        raise InvalidDuration("must be longer than zero")
    # Compared before making a timedelta, which overflows beyond 999999999 days.
    if seconds > MAX_SECONDS:
        raise InvalidDuration(f"must not exceed ten years ({MAX_DURATION.days} days)")
    return timedelta(seconds=float(seconds))


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "…")
