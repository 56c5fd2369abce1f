"""Failed sign-ins slow down: wrong API keys at /login and on the API, counted in this process's memory.

Failures are counted per bucket: the client's address, and the first characters of the key tried
(the stored `prefix` that names one key of one account, so guessing at one account's key from many
addresses is caught too). A bucket that fails `limit` (20) times in a row is refused for `lock`
seconds (60); once a lock has run out, the next failure locks it again for twice as long, up to
`max_lock` (15 minutes). A success resets the buckets it names. A bucket untouched for `forget`
seconds (1 hour) starts again from zero, and each kind of bucket keeps at most `capacity` (10,000)
entries: when full, the one touched longest ago is dropped, so memory stays bounded.

Each server process counts on its own: with N processes behind a balancer a client gets up to N
times the attempts before every process refuses it.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

Bucket = tuple[str, str]  # (kind, value), e.g. ("client", "203.0.113.9")


class TooManyFailures(Exception):
    """Refused without checking: too many failures in a row; retry after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed attempts; retry in {retry_after} s")
        self.retry_after = retry_after


@dataclass(slots=True)
class _Entry:
    failures: int = 0
    lockouts: int = 0
    locked_until: float = 0.0
    touched: float = 0.0


class Throttle:
    """Counts failures in a row per bucket and locks buckets that fail too often (thread-safe)."""

    def __init__(
        self,
        *,
        limit: int = 20,
        lock: float = 60.0,
        max_lock: float = 900.0,
        forget: float = 3600.0,
        capacity: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit, self.lock, self.max_lock, self.forget, self.capacity = limit, lock, max_lock, forget, capacity
        self._clock = clock
        self._tables: dict[str, OrderedDict[str, _Entry]] = {}
        self._mutex = threading.Lock()

    def retry_after(self, buckets: Iterable[Bucket]) -> int:
        """Return the seconds until every bucket is open again (0: go ahead)."""
        now = self._clock()
        with self._mutex:
            waits = [entry.locked_until - now for entry in self._entries(buckets, now, create=False)]
        return max(0, math.ceil(max(waits, default=0.0)))

    def failed(self, buckets: Iterable[Bucket]) -> None:
        """Count a failure against each bucket; lock those that reach the limit."""
        now = self._clock()
        with self._mutex:
            for entry in self._entries(buckets, now, create=True):
                entry.failures += 1
                if entry.failures >= self.limit:
                    entry.locked_until = now + min(self.lock * 2**entry.lockouts, self.max_lock)
                    entry.lockouts += 1

    def succeeded(self, buckets: Iterable[Bucket]) -> None:
        """Forget the failures of each bucket."""
        with self._mutex:
            for kind, value in buckets:
                self._tables.get(kind, OrderedDict()).pop(value, None)

    def size(self) -> int:
        """Return how many buckets are remembered (all kinds)."""
        with self._mutex:
            return sum(len(table) for table in self._tables.values())

    def _entries(self, buckets: Iterable[Bucket], now: float, *, create: bool) -> list[_Entry]:
        found = []
        for kind, value in buckets:
            table = self._tables.setdefault(kind, OrderedDict())
            entry = table.get(value)
            if entry is not None and entry.locked_until <= now and now - entry.touched > self.forget:
                entry = None  # idle long enough: start again
                del table[value]
            if entry is None:
                if not create:
                    continue
                while len(table) >= self.capacity:
                    table.popitem(last=False)
                entry = table[value] = _Entry()
            table.move_to_end(value)
            entry.touched = now
            found.append(entry)
        return found


class SendWindow:
    """At most `limit` sends per key in any `window` seconds (test emails, SPEC §19), in this process."""

    def __init__(self, *, limit: int = 20, window: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self._clock = limit, window, clock
        self._sent: dict[str, list[float]] = {}
        self._mutex = threading.Lock()

    def take(self, key: str, count: int) -> int:
        """Take `count` sends for key; 0 when allowed, else the seconds until they would be."""
        with self._mutex:
            now = self._clock()
            recent = [t for t in self._sent.get(key, []) if t > now - self.window]
            if len(recent) + count > self.limit:
                self._sent[key] = recent
                index = min(len(recent) - 1, len(recent) + count - self.limit - 1)
                return max(1, math.ceil(recent[index] + self.window - now)) if recent else math.ceil(self.window)
            self._sent[key] = recent + [now] * count
            if len(self._sent) > 10_000:  # bounded: forget the keys with nothing recent
                self._sent = {k: v for k, v in self._sent.items() if v and v[-1] > now - self.window}
            return 0
