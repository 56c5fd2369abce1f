"""The figures drawn from measurements: busy spans, percentiles, milliseconds."""

from __future__ import annotations

from typing import Any


def span(results: list[dict[str, Any]]) -> float:
    """Seconds from the first batch any worker began to the last batch any worker committed."""
    busy = [r for r in results if r["first"]]
    return max(r["last"] for r in busy) - min(r["first"] for r in busy) if busy else 0.0


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)
