"""What the HTTP layers (API, UI, public pages) get of a running instance: no worker, no transport.

`bootstrap.Stepwise` extends it with the worker loops and the email transport; code above the
services layer types against `Context`, so it never imports the composition root.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stepwise.clock import Clock, system_clock
from stepwise.config import Settings
from stepwise.delivery.tokens import TokenSigner
from stepwise.services.catalog import SequenceCatalog
from stepwise.services.throttle import Throttle
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

    def close(self) -> None:
        self.db.dispose()
