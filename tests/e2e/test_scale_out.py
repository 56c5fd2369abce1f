"""Several processes on one PostgreSQL: notifications wake idle workers, work is shared, nothing doubles."""

from __future__ import annotations

import json
import subprocess

import httpx
import pytest

from tests.support.process import STEPWISE, env_for, run_cli, start_serve, stop
from tests.support.server import free_port
from tests.support.waiting import eventually

WELCOME = {
    "name": "Welcome",
    "status": "active",
    "steps": [
        {
            "variants": [
                {
                    "when": [{"event": "custom", "name": "go"}],
                    "do": [
                        {"action": "change_data", "increment": {"custom.n": 1}},
                        {"action": "send_email", "draft": "hello"},
                    ],
                }
            ]
        }
    ],
}


@pytest.fixture
def pg_url(postgres_url: str) -> str:
    from tests.conftest import truncate_all_if_migrated

    truncate_all_if_migrated(postgres_url)
    return postgres_url


def _setup(env: dict[str, str], port: int) -> tuple[httpx.Client, subprocess.Popen[str]]:
    key = json.loads(run_cli("accounts", "create", "shop", "--json", "--create", env=env).stdout)["api_key"]
    server = start_serve(port, env, "--no-worker")
    api = httpx.Client(
        base_url=f"http://127.0.0.1:{port}/api/v1", headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    api.put("/drafts/hello", json={"subject": "Hello", "html": "<p>hi</p>", "from_email": "a@example.com"})
    assert api.put("/sequences/welcome", json=WELCOME).status_code == 201
    return api, server


def _listeners(url: str) -> int:
    """How many sessions of this database wait for notifications (each worker has one)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            query = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'"
            return int(conn.execute(text(query)).scalar_one())
    finally:
        engine.dispose()


def _worker(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([STEPWISE, "worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_a_notification_wakes_a_worker_in_another_process(pg_url: str) -> None:
    env = env_for(pg_url, STEPWISE_POLL_INTERVAL="120")  # polling alone would take 2 minutes
    port = free_port()
    api, server = _setup(env, port)
    listening = _listeners(pg_url)
    worker = _worker(env)
    try:
        eventually(lambda: _listeners(pg_url) > listening, timeout=30)  # the worker has started and listens
        api.post("/subscribers", json={"email": "anna@example.com"})
        api.post("/events", json={"type": "custom", "name": "go", "email": "anna@example.com"})
        # Bounded at a quarter of the poll interval: only a notification can have woken the worker in time.
        eventually(lambda: api.get("/issues", params={"status": "sent"}).json()["items"], timeout=30)
    finally:
        stop(worker)
        stop(server)


def test_two_workers_share_the_work_and_apply_each_event_once(pg_url: str) -> None:
    env = env_for(pg_url, STEPWISE_BATCH_SIZE="20", STEPWISE_POLL_INTERVAL="0.05")
    port = free_port()
    api, server = _setup(env, port)
    try:
        emails = [f"user{n}@example.com" for n in range(200)]
        for email in emails:
            api.post("/subscribers", json={"email": email})
        events = [
            {"type": "custom", "name": "go", "email": email, "id": f"{email}-{i}"} for i in range(3) for email in emails
        ]
        for start in range(0, len(events), 500):
            api.post("/events", json={"events": events[start : start + 500]})
        workers = [_worker(env), _worker(env)]
        try:
            eventually(
                lambda: api.get("/sequences/welcome/stats").json()["completed"] == len(events),
                timeout=120,
                interval=0.2,
            )
        finally:
            outputs = [stop(w) for w in workers]
        assert all("Traceback" not in out for out in outputs), outputs
        counts = {api.get(f"/subscribers/{email}").json()["data"]["custom"]["n"] for email in emails}
        assert counts == {3}
        sent = 0
        cursor = None
        while True:
            page = api.get("/issues", params={"limit": 1000, **({"cursor": cursor} if cursor else {})}).json()
            sent += len(page["items"])
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert sent == len(events)
    finally:
        stop(server)
