"""A live Stepwise server per test (both databases), with an account and an HTTP client."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from stepwise.bootstrap import Stepwise
from stepwise.services.accounts import create_account
from tests.support.server import LiveServer, api_client, live_server


@dataclass
class Api:
    server: LiveServer
    client: httpx.Client
    key: str
    account_id: int


@pytest.fixture
def server(stepwise: Stepwise) -> Iterator[LiveServer]:
    with live_server(stepwise) as running:
        yield running


@pytest.fixture
def api(server: LiveServer) -> Iterator[Api]:
    row, key = create_account(server.stepwise.db, "shop", "UTC", server.stepwise.clock())
    with api_client(server, key) as client:
        yield Api(server, client, key, row.id)


@pytest.fixture
def other_api(server: LiveServer) -> Iterator[Api]:
    row, key = create_account(server.stepwise.db, "rival", "UTC", server.stepwise.clock())
    with api_client(server, key) as client:
        yield Api(server, client, key, row.id)
