"""Poison isolation for the delivery loop: an outbox row it cannot decode, prepare or record is set aside.

The work is done in services/outbox_quarantine.py; the delivery loop reaches it by these names.
"""

from __future__ import annotations

from stepwise.services.outbox_quarantine import quarantine_item, set_aside, text_or_none

__all__ = ["quarantine_item", "set_aside", "text_or_none"]
