"""The failure throttle: limits in a row, doubling locks, resets, forgetting, bounded memory."""

from __future__ import annotations

from stepwise.services.accounts import key_buckets
from stepwise.services.throttle import Throttle

CLIENT = [("client", "203.0.113.9")]


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_twentieth_failure_in_a_row_locks_for_a_minute_then_locks_double() -> None:
    ticks = Ticks()
    throttle = Throttle(clock=ticks)
    for _ in range(19):
        throttle.failed(CLIENT)
        assert throttle.retry_after(CLIENT) == 0
    throttle.failed(CLIENT)
    assert throttle.retry_after(CLIENT) == 60
    ticks.now += 60.5
    assert throttle.retry_after(CLIENT) == 0
    throttle.failed(CLIENT)  # one more failure after the lock: locked again, for twice as long
    assert throttle.retry_after(CLIENT) == 120
    for _ in range(10):
        ticks.now += 1000
        throttle.failed(CLIENT)
    assert throttle.retry_after(CLIENT) == 900  # capped at 15 minutes


def test_a_success_resets_and_an_hour_of_quiet_forgets() -> None:
    ticks = Ticks()
    throttle = Throttle(clock=ticks)
    for _ in range(19):
        throttle.failed(CLIENT)
    throttle.succeeded(CLIENT)
    for _ in range(19):
        throttle.failed(CLIENT)
    assert throttle.retry_after(CLIENT) == 0
    ticks.now += 3601
    throttle.failed(CLIENT)
    assert throttle.retry_after(CLIENT) == 0  # counted from zero again


def test_memory_is_bounded_and_the_oldest_entries_go_first() -> None:
    throttle = Throttle(capacity=100, clock=Ticks())
    for number in range(1000):
        throttle.failed([("client", f"198.51.100.{number}"), ("key", f"sw_{number:07d}")])
    assert throttle.size() == 200
    for _ in range(20):
        throttle.failed(CLIENT)
    assert throttle.size() == 200
    assert throttle.retry_after(CLIENT) > 0


def test_a_key_counts_against_its_prefix_as_well_as_the_client() -> None:
    assert key_buckets("::1", "sw_abcdefg-and-the-rest") == [("client", "::1"), ("key", "sw_abcdefg")]
    assert key_buckets("::1", "not a key") == [("client", "::1")]
