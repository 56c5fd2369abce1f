"""S14: kill -9 of the server while it processes 1,000 queued events, then a restart: none lost, none twice."""

from __future__ import annotations

import json
import signal
import subprocess

import httpx
from sqlalchemy import Engine, create_engine, func, select

from stepwise.storage import schema as t
from tests.support.process import STEPWISE, env_for, run_cli, start_serve, stop
from tests.support.server import free_port
from tests.support.waiting import eventually

SUBSCRIBERS = 50
EVENTS = 1000
COUNTER = {
    "name": "Counter",
    "status": "active",
    "steps": [
        {
            "variants": [
                {
                    "when": [{"event": "custom", "name": "tick"}],
                    "do": [
                        {"action": "change_data", "increment": {"custom.ticks": 1}},
                        {"action": "send_email", "draft": "tick"},
                    ],
                }
            ]
        }
    ],
}


def _count(url: str, table: t.Table) -> int:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())
    finally:
        engine.dispose()


def _depth(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(t.inbox)).scalar_one())


def test_kill_9_mid_batch_loses_nothing_and_applies_nothing_twice(database_url: str) -> None:
    env = env_for(database_url, STEPWISE_BATCH_SIZE="2", STEPWISE_POLL_INTERVAL="0.05")
    created = run_cli("accounts", "create", "shop", "--json", "--create", env=env)
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)["api_key"]
    port = free_port()
    base = f"http://127.0.0.1:{port}/api/v1"
    headers = {"Authorization": f"Bearer {key}"}

    server = start_serve(port, env, "--no-worker")  # queue everything first, with nobody processing
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=30) as api:
            api.put("/drafts/tick", json={"subject": "Tick", "html": "<p>tick</p>", "from_email": "t@example.com"})
            assert api.put("/sequences/counter", json=COUNTER).status_code == 201
            for n in range(SUBSCRIBERS):
                assert api.post("/subscribers", json={"email": f"user{n}@example.com"}).status_code == 201
            events = [
                {"type": "custom", "name": "tick", "email": f"user{i % SUBSCRIBERS}@example.com", "id": f"e{i}"}
                for i in range(EVENTS)
            ]
            for start in range(0, EVENTS, 500):
                assert api.post("/events", json={"events": events[start : start + 500]}).json()["accepted"] == 500
    finally:
        stop(server)
    queued = EVENTS + SUBSCRIBERS  # the ticks and one subscriber_added each
    assert _count(database_url, t.inbox) == queued

    # With the worker running, kill -9 as soon as part (not all) of the queue has been processed. The
    # worker starts before the HTTP server answers, so watch the queue, not the health check.
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        server = subprocess.Popen(
            [STEPWISE, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        eventually(lambda: _depth(engine) < queued, timeout=60, interval=0.002)
        server.send_signal(signal.SIGKILL)
        server.wait(10)
        remaining = _depth(engine)
    finally:
        engine.dispose()
    assert 0 < remaining < queued, f"the kill did not land mid-queue ({remaining} left)"

    server = start_serve(port, env)
    try:
        eventually(lambda: _count(database_url, t.inbox) == 0, timeout=120, interval=0.1)
        with httpx.Client(base_url=base, headers=headers, timeout=30) as api:
            ticks = [
                api.get(f"/subscribers/user{n}@example.com").json()["data"]["custom"]["ticks"]
                for n in range(SUBSCRIBERS)
            ]
            assert ticks == [EVENTS // SUBSCRIBERS] * SUBSCRIBERS
            stats = api.get("/sequences/counter/stats").json()
            assert (stats["entered"], stats["completed"]) == (EVENTS, EVENTS)
        assert _count(database_url, t.issues) == EVENTS
        assert _count(database_url, t.runs) == EVENTS
    finally:
        stop(server)
