"""The data every workload starts from: an account with the bench sequences and its subscribers, then
the events or waiting runs a workload plants for the workers to process."""

from __future__ import annotations

import time
from dataclasses import dataclass

from stepwise.bootstrap import Stepwise, build
from stepwise.config import Settings
from stepwise.services import drafts as draft_service
from stepwise.services import sequences as sequence_service
from stepwise.services.accounts import create_account
from stepwise.services.drafts import DraftBody
from stepwise.storage import seeding
from stepwise.storage.codec import to_us
from stepwise.storage.database import Database
from stepwise.storage.seeding import WaitingRun

TWO_STEPS = {
    "name": "Bench welcome",
    "status": "active",
    "steps": [
        {
            "variants": [
                {"when": [{"event": "custom", "name": "signup"}], "do": [{"action": "send_email", "draft": "welcome"}]}
            ]
        },
        {"variants": [{"when": [{"event": "time_passed", "after": "1d"}], "do": [{"action": "nothing"}]}]},
    ],
}
# Runs are planted at step 2; its deadline fires and they move to step 3, which waits a day.
DEADLINES = {
    "name": "Bench deadlines",
    "status": "active",
    "steps": [
        {"variants": [{"when": [{"event": "never"}], "do": [{"action": "nothing"}]}]},
        {"variants": [{"when": [{"event": "time_passed", "after": "1s"}], "do": [{"action": "nothing"}]}]},
        {"variants": [{"when": [{"event": "time_passed", "after": "1d"}], "do": [{"action": "nothing"}]}]},
    ],
}


@dataclass
class Scenario:
    """A prepared account: subscribers exist and both sequences are active."""

    stepwise: Stepwise
    account_id: int
    subscriber_ids: list[int]
    sequence_ids: dict[str, int]


def settings_for(database_url: str, batch_size: int) -> Settings:
    return Settings(database_url=database_url, secret_key="bench", batch_size=batch_size, log_level="warning")


def prepare(
    database_url: str, subscribers: int, *, batch_size: int = 500, account: str = "bench", segments: bool = False
) -> Scenario:
    """Create an account, a draft, the bench sequences and `subscribers` subscribers (no events).

    With `segments`, the twenty segments of the policy workload are defined afterwards (their members
    found by the backfill), so that they are in force while the figure is measured (SPEC §21).
    """
    stepwise = build(settings_for(database_url, batch_size))
    now = stepwise.clock()
    row, _ = create_account(stepwise.db, account, "UTC", now)
    draft_service.put(
        stepwise.db,
        row.id,
        "welcome",
        DraftBody(subject="Welcome {{ data.base.firstName }}", html="<p>Hello!</p>", from_email="bench@example.com"),
        now,
    )
    sequence_service.put(stepwise.db, row.id, "welcome", TWO_STEPS, now)
    sequence_service.put(stepwise.db, row.id, "deadlines", DEADLINES, now)
    emails = [f"user{n}@{account}.example" for n in range(subscribers)]
    with stepwise.db.write() as conn:
        seeding.add_subscribers(conn, row.id, emails, '{"base":{"firstName":"User"}}', to_us(now), chunk=5000)
        ids = seeding.subscriber_ids(conn, row.id)
        seqs = seeding.sequence_ids(conn, row.id)
    if segments:
        from stepwise.bench.policy_workload import define_segments

        define_segments(stepwise, row.id)
    return Scenario(stepwise, row.id, ids, seqs)


def queue_events(db: Database, account_id: int, subscriber_ids: list[int], name: str = "signup") -> dict[int, float]:
    """Accept one custom event per subscriber straight into the inbox; return wall time of acceptance per id."""
    accepted: dict[int, float] = {}
    for start in range(0, len(subscriber_ids), 1000):
        chunk = subscriber_ids[start : start + 1000]
        now = time.time()
        with db.write() as conn:
            seeding.add_custom_events(conn, account_id, chunk, name, int(now * 1e6))
        accepted.update(dict.fromkeys(chunk, now))
    return accepted


def plant_runs(db: Database, scenario: Scenario, wake_at: list[float], *, step: int = 2) -> None:
    """Put one run per subscriber at `step` of the deadlines sequence, due at the given wall times."""
    runs = []
    for sid, wake in zip(scenario.subscriber_ids, wake_at, strict=False):
        wake_us = int(wake * 1e6)
        runs.append(WaitingRun(sid, entered_at_us=wake_us - 1_000_000, wake_at_us=wake_us))
    with db.write() as conn:
        seeding.add_waiting_runs(conn, scenario.account_id, scenario.sequence_ids["deadlines"], step, runs, chunk=5000)
