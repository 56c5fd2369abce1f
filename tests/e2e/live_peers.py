"""Fixtures of end-to-end tests whose server talks to real peers: an SMTP sink and an HTTP receiver.

A test module imports them (`from tests.e2e.live_peers import receiver, settings, sink`); the server
sends through the sink and may call loopback addresses (the receiver listens there).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stepwise.config import Settings
from tests.integration.delivery.servers import HttpTarget, SmtpServer, smtp_server


@pytest.fixture
def sink() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def receiver() -> Iterator[HttpTarget]:
    running = HttpTarget().start()
    yield running
    running.stop()


@pytest.fixture
def settings(database_url: str, sink: SmtpServer) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key="test-secret",
        base_url="http://stepwise.test",
        poll_interval=0.02,
        smtp_url=sink.url(),
        allow_private_urls=True,  # the receiver listens on loopback
    )
