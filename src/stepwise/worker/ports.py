"""What the delivery loop reads and writes (implemented by services/delivery_store.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from stepwise.domain.deliveries import Inputs, IssueChange, Recipient, Record, SentMessage
from stepwise.domain.instants import to_us
from stepwise.domain.jobs import OutboxRow
from stepwise.domain.policy import SlotRequest

__all__ = [
    "AcceptanceWriter",
    "DeliveryStore",
    "Inputs",
    "IssueChange",
    "Recipient",
    "Record",
    "SentMessage",
    "to_us",
]


class AcceptanceWriter(Protocol):
    """Writes `accepted_at` after an SMTP server's 250, on a connection of its own (one event loop)."""

    async def record(self, row_id: int, token: str, at_us: int) -> bool:
        """False when the lease is no longer `token`'s."""
        ...

    async def close(self) -> None: ...


class DeliveryStore(Protocol):
    """Each call runs in a transaction of its own."""

    def claim(self, now_us: int, token: str, room: Mapping[str, int], lease_us: int) -> list[OutboxRow]:
        """Lease up to `room[kind]` due rows of each kind with `token` until now + `lease_us`."""
        ...

    def release(self, abandoned: Sequence[tuple[str, int]], now_us: int) -> None:
        """Hand back the rows of claims (lease token, lease end) nobody will work on."""
        ...

    def renew(self, leases: Sequence[tuple[int, str]], until_us: int) -> list[bool]:
        """Extend leases (row id, token); False for each lease that was lost."""
        ...

    def inputs(self, rows: Sequence[OutboxRow]) -> Inputs:
        """Read what preparing these email rows needs."""
        ...

    def take_slots(self, requests: Sequence[SlotRequest], now_us: int) -> dict[int, int | None]:
        """Take a cap slot per request (S28), exactly even with many workers; by row id: None when
        taken, else when (microseconds) the subscriber's caps would allow one."""
        ...

    def record(self, records: Sequence[Record], now_us: int) -> list[str]:
        """Write outcomes whose lease is still held; return the timeline kinds written."""
        ...

    def set_aside(self, row: OutboxRow, error: str, now_us: int) -> None:
        """Take a row we hold out of the outbox into the quarantine, recorded as failed."""
        ...

    def acceptance(self) -> AcceptanceWriter:
        """A new acceptance writer (one per event loop)."""
        ...
