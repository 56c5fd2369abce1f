"""Which errors mean the database is away or busy (retry later), as opposed to poison in the data."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout


def is_transient(exc: BaseException) -> bool:
    """Tell whether an error is the database being away or busy (retry later), not poison in the data."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OperationalError | InterfaceError | DisconnectionError | PoolTimeout | OSError)
