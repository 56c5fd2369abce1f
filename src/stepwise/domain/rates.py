"""Rates shown in the stats: one rounding everywhere."""

from __future__ import annotations


def conversion_rate(converted: int, entered: int) -> float | None:
    """S24: converted ÷ entered (or any part ÷ whole), rounded to 4 places; None when the whole is zero."""
    return round(converted / entered, 4) if entered else None
