"""Transports hand messages to the world. `capture` keeps them for the mailbox (SPEC §6.2)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from stepwise.delivery.message import Outgoing

# Records, durably, that the server accepted a message. A transport calls it right after the server's
# acceptance and hands over no other message until it returns, so a crash leaves at most one message
# accepted but unrecorded (SPEC §12). It retries on its own and does not raise.
Accepted = Callable[[], Awaitable[None]]


class DeliveryError(Exception):
    """A delivery failed. `permanent` failures are not retried; `bounce` marks the recipient bounced."""

    def __init__(self, message: str, *, permanent: bool, bounce: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.bounce = bounce


class Transport(Protocol):
    """Sends one message or raises DeliveryError; calls `accepted` once the message is handed over."""

    name: str

    async def send(self, message: Outgoing, accepted: Accepted | None = None) -> None: ...

    async def close(self) -> None: ...


class CaptureTransport:
    """Keeps messages in the archive only: the issue row holds them, the UI's mailbox shows them.

    Nothing leaves the process, so there is nothing to record before the delivery's own record.
    """

    name = "capture"

    async def send(self, message: Outgoing, accepted: Accepted | None = None) -> None:
        return None

    async def close(self) -> None:
        return None
