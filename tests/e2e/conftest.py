"""A live Stepwise server per test (both databases), with an account and an HTTP client."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from stepwise.bootstrap import Stepwise
from stepwise.services.accounts import create_account
from stepwise.services.users import create_user
from tests.support.server import LiveServer, api_client, live_server

PASSWORD = "correct horse battery"  # the password of every account's owner made here


@dataclass
class Api:
    server: LiveServer
    client: httpx.Client
    key: str
    account_id: int
    owner: str = ""  # the email of the account's owner (password PASSWORD), for signing in to the UI

    def login(self) -> dict[str, str]:
        """The fields of the sign-in form for the account's owner."""
        return {"email": self.owner, "password": PASSWORD}


@pytest.fixture
def server(stepwise: Stepwise) -> Iterator[LiveServer]:
    with live_server(stepwise) as running:
        yield running


@pytest.fixture
def api(server: LiveServer) -> Iterator[Api]:
    row, key = create_account(server.stepwise.db, "shop", "UTC", server.stepwise.clock())
    create_user(server.stepwise.db, row.id, "owner@shop.example", PASSWORD, "owner", server.stepwise.clock())
    with api_client(server, key) as client:
        yield Api(server, client, key, row.id, "owner@shop.example")


@pytest.fixture
def other_api(server: LiveServer) -> Iterator[Api]:
    row, key = create_account(server.stepwise.db, "rival", "UTC", server.stepwise.clock())
    create_user(server.stepwise.db, row.id, "owner@rival.example", PASSWORD, "owner", server.stepwise.clock())
    with api_client(server, key) as client:
        yield Api(server, client, key, row.id, "owner@rival.example")
