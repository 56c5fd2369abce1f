"""Fixtures of the delivery tests: a real SMTP server, a real HTTP target, a loopback canary."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stepwise.bootstrap import Stepwise
from tests.integration.delivery.helpers import Shop
from tests.integration.delivery.servers import Canary, HttpTarget, SmtpServer, smtp_server


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def http_target() -> Iterator[HttpTarget]:
    target = HttpTarget().start()
    yield target
    target.stop()


@pytest.fixture
def canary() -> Iterator[Canary]:
    listener = Canary()
    yield listener
    listener.stop()


@pytest.fixture
def shop(stepwise: Stepwise, account: tuple[int, str]) -> Shop:
    return Shop(stepwise, account[0])
