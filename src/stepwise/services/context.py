"""What the HTTP layers (API, UI, public pages) get of a running instance: no worker loops.

`bootstrap.Stepwise` extends it with the worker loops; code above the
services layer types against `Context`, so it never imports the composition root.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stepwise.clock import Clock, system_clock
from stepwise.config import Settings
from stepwise.delivery.tokens import TokenSigner
from stepwise.delivery.transports import CaptureTransport, Transport
from stepwise.services.catalog import SequenceCatalog
from stepwise.services.throttle import SendWindow, Throttle
from stepwise.storage.database import Database as Database  # noqa: PLC0414 - re-exported to the HTTP layers


@dataclass
class Context:
    """The settings, database, signer, clock and caches of one process, wired once."""

    settings: Settings
    db: Database
    signer: TokenSigner
    clock: Clock = system_clock
    catalog: SequenceCatalog = field(default_factory=SequenceCatalog)
    throttle: Throttle = field(default_factory=Throttle)  # failed sign-ins of this process (API and UI)
    secret: str = field(default="", repr=False)  # the instance secret (services/secret.py); never stored in the DB
    test_sends: SendWindow = field(default_factory=SendWindow)  # test emails of this process, per account

    def transport(self) -> Transport:
        """The email transport: SMTP when configured, else the capture mailbox."""
        if self.settings.smtp_url:
            from stepwise.delivery.smtp import SmtpTransport

            return SmtpTransport.from_url(self.settings.smtp_url, rate=self.settings.send_rate)
        return CaptureTransport()

    def close(self) -> None:
        self.db.dispose()
