"""Transports hand messages to the world. `capture` keeps them for the mailbox (SPEC §6.2)."""

from __future__ import annotations

from typing import Protocol

from stepwise.delivery.message import Outgoing


class DeliveryError(Exception):
    """A delivery failed. `permanent` failures are not retried; `bounce` marks the recipient bounced."""

    def __init__(self, message: str, *, permanent: bool, bounce: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.bounce = bounce


class Transport(Protocol):
    """Sends one message or raises DeliveryError."""

    name: str

    async def send(self, message: Outgoing) -> None: ...

    async def close(self) -> None: ...


class CaptureTransport:
    """Keeps messages in the archive only: the issue row holds them, the UI's mailbox shows them."""

    name = "capture"

    async def send(self, message: Outgoing) -> None:
        return None

    async def close(self) -> None:
        return None
