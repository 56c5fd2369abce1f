"""SPEC §12 reliability: PostgreSQL restarted three times mid-run; nothing lost, nothing sent twice, quick resumption.

Two `stepwise worker` processes and `stepwise serve --no-worker` run against a private PostgreSQL
server (see conftest.py), sending to a real SMTP sink at a limited rate so that the work spans all
three restarts. Each restart is `pg_ctl stop -m fast` (every session is ended at once, as an
operator's restart does), an outage of 1, 3 and then 6 seconds, and `pg_ctl start`. A restart is
not a kill: the processes must survive it, retry their writes and carry on by themselves.
Processing counts as resumed when committed progress (sent issues plus completed runs) grows past
its first reading after the server is back.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from tests.chaos.conftest import PrivatePostgres
from tests.chaos.harness import Fleet, Probe, Shop, api_server, assert_everyone_completed, audit, onboarding
from tests.chaos.harness import smtp_sink as start_sink
from tests.support.clock import FakeClock
from tests.support.process import env_for
from tests.support.waiting import eventually

pytestmark = pytest.mark.chaos

SUBSCRIBERS = 700
WORKERS = 2
SEND_RATE = 40  # emails per second per worker: the run lasts long enough for three restarts
OUTAGES = (1.0, 3.0, 6.0)  # seconds the server stays down
RESUME_LIMIT = 5.0
RETRY_ATTEMPTS = 100  # turns of the delivery loop after the restart (one waits up to 0.05 s for a running send)
ACCOUNT = "chaos"


def _database_on(server: PrivatePostgres) -> str:
    admin = create_engine(server.url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text('CREATE DATABASE "stepwise"'))
    admin.dispose()
    return server.url.rsplit("/", 1)[0] + "/stepwise"


def _log_reclaims(probe: Probe) -> None:
    """Log every outbox row claimed again without an error recorded in between: its lease ran out.

    A claim adds 1 to `attempts` and handing a claim back subtracts it, so a row claimed a second
    time with no `last_error` (no failed attempt rescheduled it) was held by a lease nobody renewed
    or released: dropped by its worker, and taken over only because the lease ended.
    """
    probe.execute("CREATE TABLE chaos_reclaims (row_id bigint NOT NULL, attempts integer NOT NULL)")
    probe.execute(
        "CREATE FUNCTION chaos_log_reclaim() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN INSERT INTO chaos_reclaims VALUES (NEW.id, NEW.attempts); RETURN NEW; END $$"
    )
    probe.execute(
        "CREATE TRIGGER chaos_log_reclaim AFTER UPDATE OF attempts ON outbox FOR EACH ROW"
        " WHEN (NEW.attempts > OLD.attempts AND NEW.attempts > 1 AND NEW.last_error IS NULL)"
        " EXECUTE FUNCTION chaos_log_reclaim()"
    )


def _progresses(probe: Probe, by: int) -> None:
    """Wait until committed progress has grown by `by`."""
    floor = probe.progress()
    eventually(lambda: probe.progress() >= floor + by, timeout=120, interval=0.1)


def _watch_recovery(probe: Probe, healthz: str, back: float, timeout: float = 60) -> tuple[float, float]:
    """Return how long after `back` committed progress grew again, and the API's /healthz answered 200."""
    first = probe.try_progress()
    resumed = healthy = None
    while resumed is None or healthy is None:
        now = time.monotonic()
        assert now - back < timeout, f"no recovery within {timeout}s (resumed {resumed}, healthy {healthy})"
        if resumed is None:
            progress = probe.try_progress()
            if first is None:
                first = progress  # the first reading after the restart is the floor
            elif progress is not None and progress > first:
                resumed = now - back
        if healthy is None:
            try:
                if httpx.get(healthz, timeout=5).status_code == 200:
                    healthy = time.monotonic() - back
            except httpx.HTTPError:
                pass
        time.sleep(0.02)
    return resumed, healthy


def test_three_postgresql_restarts_lose_nothing_send_nothing_twice_and_processing_resumes_within_5_s(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    database_url = _database_on(private_postgres)
    env = env_for(database_url, STEPWISE_SEND_RATE=str(SEND_RATE), STEPWISE_POLL_INTERVAL="0.1")
    shop = Shop(database_url, ACCOUNT, onboarding(wait="2s"), tmp_path)
    probe = Probe(database_url)
    _log_reclaims(probe)
    subscribers = SUBSCRIBERS + len(OUTAGES)  # one more is created through the API after each restart
    total_progress = 3 * subscribers  # two emails and one completed run each

    with start_sink(tmp_path / "sink") as sink, api_server(env, tmp_path / "logs") as base_url:
        fleet = Fleet(env, sink, tmp_path / "logs")
        api = httpx.Client(
            base_url=f"{base_url}/api/v1", headers={"Authorization": f"Bearer {shop.api_key}"}, timeout=10
        )
        resumes: list[float] = []
        healths: list[float] = []
        started = time.monotonic()
        try:
            fleet.start(WORKERS)
            shop.import_subscribers([f"reader{n}@example.com" for n in range(SUBSCRIBERS)])
            for number, down in enumerate(OUTAGES, start=1):
                _progresses(probe, by=100)  # restart mid-run, with work flowing since the last restart
                before = probe.progress()
                assert before < total_progress, f"the run was over before restart {number} ({before})"
                private_postgres.stop("fast")
                try:
                    time.sleep(down)  # the outage itself, not a wait for a result
                finally:
                    private_postgres.start()  # always back up, whatever happened meanwhile
                back = time.monotonic()
                resumed, healthy = _watch_recovery(probe, f"{base_url}/healthz", back)
                resumes.append(resumed)
                healths.append(healthy)
                # The API writes again at once (its pool must not hand out the connections the restart broke).
                created = api.post("/subscribers", json={"email": f"late{number}@example.com"})
                assert created.status_code == 201, created.text
                assert fleet.exited() == [], f"workers died in restart {number}: {fleet.exited()}\n{fleet.tails()}"

            # Bounded only so that a hang fails; rows a worker leased and then dropped are caught by the
            # reclaim log below, not by this wait (they would be back within the 1-minute lease anyway).
            eventually(
                lambda: (
                    probe.value("SELECT count(*) FROM runs WHERE status = 'completed'") == subscribers
                    and probe.value("SELECT count(*) FROM outbox") + probe.value("SELECT count(*) FROM inbox") == 0
                ),
                timeout=120,
                interval=0.25,
            )
            assert fleet.exited() == [], f"workers died: {fleet.exited()}\n{fleet.tails()}"
            codes = fleet.stop_all()
            assert set(codes.values()) == {0}, f"a worker did not stop cleanly: {codes}\n{fleet.tails()}"
        finally:
            fleet.stop_all(timeout=30)
            api.close()
        elapsed = time.monotonic() - started
        result = audit(probe, sink)
        reclaimed = probe.rows("SELECT row_id, attempts FROM chaos_reclaims ORDER BY row_id")
    stats = shop.stats("onboarding")  # through the in-process pool, which also lived through the restarts
    shop.close()
    probe.dispose()

    expected = 2 * subscribers
    figures = (
        f"chaos PostgreSQL restarts: {len(OUTAGES)} restarts (down {', '.join(f'{d:g}s' for d in OUTAGES)}), "
        f"{WORKERS} workers, {subscribers} subscribers, {elapsed:.0f}s | resumed after "
        f"{', '.join(f'{r:.2f}s' for r in resumes)}; API healthy after {', '.join(f'{h:.2f}s' for h in healths)} | "
        f"emails expected {expected}, received {result.received}, duplicates {result.duplicates}, "
        f"lost {len(result.lost)}, unexpected {len(result.unexpected)}, "
        f"duplicate issue rows {result.duplicate_issue_rows}, rows taken over after their lease ran out "
        f"{len(reclaimed)}"
    )
    print("\n" + figures)

    assert all(r < RESUME_LIMIT for r in resumes), figures
    # Rows claimed when a restart cut the claim off go back when the database answers, not when the lease ends.
    assert reclaimed == [], f"{figures}\nrows (id, attempts) taken over after a lease ran out: {reclaimed[:10]}"
    assert result.lost == [], f"{figures}\nlost: {result.lost[:10]}"
    assert result.duplicates == 0, f"{figures}\nduplicated: {list(result.duplicated())[:10]}"
    assert result.unexpected == [], figures
    assert len(result.expected) == expected, figures
    assert result.duplicate_issue_rows == 0, figures
    assert result.issues == {"sent": expected}, f"{figures}\nissues: {result.issues}"
    assert result.email_timeline == {"email_sent": expected}, f"{figures}\ntimeline: {result.email_timeline}"
    assert result.runs == {"completed": subscribers}, f"{figures}\nruns: {result.runs}"
    assert_everyone_completed(stats, subscribers, figures)


def test_rows_claimed_just_before_the_database_went_away_are_sent_when_it_returns_not_after_the_lease(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    """Restart between a committed claim and the read that prepares its rows (rare in the run above).

    The deliverer's clock is frozen, so in its view the claim's lease (LEASE, 1 minute) never runs
    out: the row can only come back because the deliverer handed it back once the database answered.
    """
    from stepwise.delivery.smtp import SmtpTransport
    from stepwise.services.advancing_store import DatabaseAdvanceStore
    from stepwise.services.delivery_store import DatabaseDeliveryStore
    from stepwise.worker.advancing import Advancer
    from stepwise.worker.delivery import Deliverer

    database_url = _database_on(private_postgres)
    shop = Shop(database_url, ACCOUNT, onboarding(wait="1h"), tmp_path)
    shop.import_subscribers(["anna@example.com"])
    app = shop.app
    assert (
        Advancer(DatabaseAdvanceStore(app.db, app.catalog), app.clock).run_once().commands == 1
    )  # the welcome email, in the outbox
    clock = FakeClock(app.clock())  # never advanced: no lease of this deliverer ever runs out

    @dataclass
    class CutOff(DatabaseDeliveryStore):
        """Stops the server after the claim committed and before the read that prepares its rows, once."""

        cut: bool = False
        events: list[str] = field(default_factory=list)

        def claim(self, now_us: int, token: str, room: Any, lease_us: int) -> Any:
            rows = super().claim(now_us, token, room, lease_us)
            self.events.append(f"claimed {len(rows)}")
            return rows

        def inputs(self, rows: Any) -> Any:
            if not self.cut:
                self.cut = True
                private_postgres.stop("fast")
            return super().inputs(rows)

        def release(self, abandoned: Any, now_us: int) -> None:
            super().release(abandoned, now_us)
            self.events.append(f"released {len(abandoned)}")

    store = CutOff(app.db)
    with start_sink(tmp_path / "sink") as sink:
        deliverer = Deliverer(store, SmtpTransport.from_url(sink.url("w1")), app.signer, "http://x.test", clock)

        async def run() -> int:
            with pytest.raises(DBAPIError):
                await deliverer.run_once()
            assert store.events == ["claimed 1"], store.events
            private_postgres.start()
            attempts = 0
            while not sink.receipts() and attempts < RETRY_ATTEMPTS:
                attempts += 1
                try:
                    await deliverer.run_once()
                except DBAPIError:  # the pool may still hand out a connection the restart broke
                    await asyncio.sleep(0.1)  # pacing while the database comes back
            await deliverer.drain()
            await deliverer.close()
            return attempts

        attempts = asyncio.run(run())
        receipts = sink.receipts()
    print(f"\nchaos claim cut off by a restart: sent after {attempts} turns of the delivery loop")
    probe = Probe(database_url)
    try:
        # With the lease never running out in the deliverer's view, only the hand-back can have freed the row.
        assert [r.recipient for r in receipts] == ["anna@example.com"], (
            f"the claimed row was not handed back within {RETRY_ATTEMPTS} turns (events {store.events})"
        )
        assert store.events[:3] == ["claimed 1", "released 1", "claimed 1"], store.events
        assert probe.rows("SELECT status FROM issues") == [("sent",)]
        assert probe.value("SELECT count(*) FROM outbox") == 0
    finally:
        probe.dispose()
        shop.close()


def test_a_worker_started_while_postgresql_restarts_waits_for_it_and_then_runs(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    """A supervisor may start a worker while the database is down or restarting: it waits, it does not exit."""
    database_url = _database_on(private_postgres)
    Shop(database_url, ACCOUNT, onboarding(wait="2s"), tmp_path).close()  # the schema and the account exist
    private_postgres.stop()
    fleet = Fleet(env_for(database_url), None, tmp_path / "logs")
    try:
        (name,) = fleet.start(1)
        eventually(lambda: "trying again" in fleet.output(name), timeout=30, interval=0.1)
        time.sleep(1.0)
        assert fleet.exited() == [], fleet.tails()
        private_postgres.start()
        eventually(lambda: fleet.ready(name), timeout=30, interval=0.1)
        assert fleet.exited() == [], fleet.tails()
    finally:
        if not private_postgres.running():
            private_postgres.start()
        fleet.stop_all()
