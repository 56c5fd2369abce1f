"""S29 / SPEC §21: kill -9 of random workers while they deliver webhooks loses none, repeats at most one per kill.

Three `stepwise worker` processes share one PostgreSQL database and POST to a receiver in its own
process that logs every webhook-id before replying 200. Messages of one endpoint for many
subscribers are queued (as facts would queue them); while they are delivered, a random worker is
killed with SIGKILL and replaced. Afterwards the dead workers' leases are made to run out now (as
time would), fresh workers finish, and every message must have reached the receiver, with at most
one duplicate per kill (worker/webhooks.py: one request at a time per worker, `accepted_at` written
after each 2xx before the next request).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import pytest

from stepwise.bootstrap import build
from stepwise.config import Settings
from stepwise.ids import new_id
from stepwise.services import webhooks
from stepwise.services.accounts import create_account
from stepwise.storage import webhooks as webhook_store
from tests.chaos.harness import Fleet, Probe, wait_for_port
from tests.support.process import env_for
from tests.support.server import free_port
from tests.support.waiting import eventually

pytestmark = pytest.mark.chaos

MESSAGES = 12_000
WORKERS = 3
KILLS = 5


@contextmanager
def receiver(log: Path) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "tests.chaos.hook_receiver", "--port", str(port), "--log", str(log)]
    process = subprocess.Popen(command, cwd=Path(__file__).parents[2])
    try:
        wait_for_port(port, process, "the webhook receiver")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def plant(database_url: str, url: str) -> list[str]:
    app = build(Settings(database_url=database_url, secret_key="test-secret"))
    try:
        now = app.clock()
        account, _ = create_account(app.db, "chaos", "UTC", now)
        webhooks.put(app.db, app.secret, account.id, "crm", url, ["email.sent"], None, now)
        with app.db.read() as conn:
            [endpoint] = webhook_store.of_account(conn, account.id)
        ids = [f"msg_{new_id()}" for _ in range(MESSAGES)]
        at_us = int(now.timestamp() * 1_000_000)
        with app.db.write() as conn:
            webhook_store.queue(
                conn,
                [
                    webhook_store.NewMessage(account.id, endpoint.id, n + 1, mid, "email.sent", f'{{"n":{n}}}', at_us)
                    for n, mid in enumerate(ids)
                ],
            )
        return ids
    finally:
        app.close()


def more_than(log: Path, count: int) -> bool:
    return len(received(log)) > count


def received(log: Path) -> list[tuple[float, str]]:
    lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    return [(float(at), mid) for at, mid in (line.split("\t") for line in lines if "\t" in line)]


def test_S29_kill_9_of_webhook_workers_loses_none_and_repeats_at_most_one_per_kill(
    chaos_database: str, tmp_path: Path
) -> None:
    seed = int(os.environ.get("STEPWISE_CHAOS_SEED") or time.time_ns() % 1_000_000)
    rng = random.Random(seed)
    env = env_for(chaos_database, STEPWISE_POLL_INTERVAL="0.1", STEPWISE_ALLOW_PRIVATE_URLS="true")
    log = tmp_path / "hooks.log"
    probe = Probe(chaos_database)
    with receiver(log) as url:
        ids = plant(chaos_database, url + "/in")
        fleet = Fleet(env, None, tmp_path / "logs")
        try:
            fleet.start(WORKERS)
            for _ in range(KILLS):
                enough = len(received(log)) + 200
                eventually(partial(more_than, log, enough), timeout=120, interval=0.05)
                fleet.kill(rng.choice(sorted(fleet.live)))
                fleet.start(1)
            assert fleet.exited() == [], f"workers died on their own\n{fleet.tails()}"
            codes = fleet.stop_all()
            assert set(codes.values()) == {0}, f"a survivor did not stop cleanly: {codes}\n{fleet.tails()}"
            now_us = int(time.time() * 1_000_000)
            probe.execute("UPDATE outbox SET available_at = :now WHERE lease_token IS NOT NULL", now=now_us)
            fleet.start(2)
            eventually(lambda: probe.value("SELECT count(*) FROM outbox") == 0, timeout=300, interval=0.25)
            codes = fleet.stop_all()
            assert set(codes.values()) == {0}, f"a finisher did not stop cleanly: {codes}\n{fleet.tails()}"
        finally:
            fleet.stop_all(timeout=30)
    copies = Counter(mid for _, mid in received(log))
    delivered = probe.value("SELECT count(*) FROM webhook_messages WHERE status = 'delivered'")
    probe.dispose()
    lost = [mid for mid in ids if copies[mid] == 0]
    duplicates = sum(n - 1 for n in copies.values() if n > 1)
    figures = f"seed {seed}: {MESSAGES} messages, {len(fleet.kills)} kills, lost {len(lost)}, duplicates {duplicates}"
    print("\n" + figures)
    assert lost == [], figures
    assert set(copies) == set(ids), figures
    assert delivered == MESSAGES, figures
    assert duplicates <= len(fleet.kills), figures
