"""Fixtures of the fuzzing tier: the real server on a fresh database of each dialect, seeded, recorded."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

import tests.support.server as server_support
from stepwise.bootstrap import Stepwise
from stepwise.services.accounts import create_account
from stepwise.serving import create_app
from tests.fuzz.harness import ARTIFACTS, SUMMARIES, SUMMARY_FILE, FuzzTarget, LogKeeper, Recorder, seed
from tests.support.server import api_client, live_server


@pytest.fixture
def fuzz_target(stepwise: Stepwise, monkeypatch: pytest.MonkeyPatch) -> Iterator[FuzzTarget]:
    """The real server on a fresh database of each dialect, an account with a real API key, seeded data."""
    recorder = Recorder()
    monkeypatch.setattr(server_support, "create_app", lambda app: recorder.wrap(create_app(app)))
    keeper = LogKeeper(recorder)
    root = logging.getLogger()
    root.addHandler(keeper)
    try:
        with live_server(stepwise) as server:
            _row, key = create_account(stepwise.db, "fuzz", "UTC", stepwise.clock())
            with api_client(server, key) as client:
                seeded = seed(client)
            assert not recorder.server_errors, f"seeding got server errors: {recorder.server_errors}"
            recorder.statuses.clear()
            context = {**seeded, "base_url": server.base_url, "key": key}
            yield FuzzTarget(server, key, stepwise.db.dialect, recorder, context)
    finally:
        root.removeHandler(keeper)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not SUMMARIES:
        return
    terminalreporter.section("fuzzing tier (Schemathesis)")
    for summary in SUMMARIES:
        terminalreporter.write_line(summary["headline"])
    terminalreporter.write_line(f"details: {SUMMARY_FILE.relative_to(ARTIFACTS.parent)} and test-artifacts/fuzz/")
