"""S16/S17 under real concurrency, on both databases: the worker's threads process a stream of events
while publications (migrate with step maps, and pin) land in between their batches.

The worker's catalog of definitions may still hold the previous version when a batch starts: a run it
enters or moves in that batch is labelled with the version it read. Two mechanisms keep that sound,
and this test exercises both with real threads rather than a simulated stale write: a pinned
version's steps stay loadable by the catalog for as long as runs are on it (several versions live at
once), and a migration is only marked finished after a settling pass that moves any run still
labelled with an older version (versions.SETTLE). Afterwards no run sits on a step its version lacks,
no run is lost or doubled, and the statistics equal the stored runs.
"""

from __future__ import annotations

import random
import threading
from typing import Any

from stepwise.bootstrap import Stepwise
from stepwise.errors import Conflict, Unprocessable
from stepwise.services import publishing, sequences, versions
from stepwise.services.events import PostedEvent, ingest
from stepwise.services.publishing import PublishIn
from stepwise.services.subscribers import Edit, edit_one
from stepwise.storage import inbox as inbox_store
from stepwise.worker.runner import wait_until
from tests.integration.versions.test_publish_property import _check, _definition
from tests.support.clock import FakeClock
from tests.support.drive import settle

PEOPLE = 24
NAMES = ("e1", "e2", "e3")
PUBLICATIONS = 8


def _events(stepwise: Stepwise, account_id: int, stop: threading.Event, seen: list[int]) -> None:
    """Post random events in small batches, as API clients would, until told to stop."""
    chance = random.Random(7)
    while not stop.is_set():
        batch = [
            PostedEvent(
                type="custom", name=chance.choice(("go", *NAMES)), email=f"r{chance.randrange(PEOPLE)}@example.com"
            )
            for _ in range(5)
        ]
        ingest(stepwise.db, account_id, batch, stepwise.clock())
        seen.append(len(batch))
        stop.wait(0.005)


def _publish(stepwise: Stepwise, account_id: int, chance: random.Random) -> str:
    events = ["go", *chance.sample(NAMES, chance.randint(1, 3))]
    mode = chance.choice(("pin", "migrate"))
    targets = [*range(2, len(events) + 1), "stop"]
    # Every step beyond the new version's end is mapped (else the publish is refused), others at random.
    step_map: dict[str, Any] = {
        str(s): chance.choice(targets) for s in (2, 3, 4) if s > len(events) or chance.random() < 0.3
    }
    publishing.put_draft(stepwise.db, account_id, "race", _definition(events), stepwise.clock())
    try:
        publishing.publish(
            stepwise.db,
            account_id,
            "race",
            PublishIn(mode=mode, step_map=step_map if mode == "migrate" else None),
            stepwise.clock(),
        )
    except (Conflict, Unprocessable):  # e.g. runs on a removed step without a map: refused, nothing changed
        publishing.delete_draft(stepwise.db, account_id, "race")
        return "refused"
    return mode


def test_S17_publications_racing_the_worker_threads_keep_every_run_on_a_step_of_its_version(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id, _ = account
    sequences.put(stepwise.db, account_id, "race", _definition(["go", "e1", "e2", "e3"]), clock())
    for i in range(PEOPLE):
        edit_one(stepwise.db, account_id, f"r{i}@example.com", Edit(), source="api", now=clock(), create=True)
    workers = stepwise.worker()
    stop, posted = threading.Event(), list[int]()
    poster = threading.Thread(target=_events, args=(stepwise, account_id, stop, posted), daemon=True)
    workers.start()
    poster.start()
    chance, outcomes = random.Random(11), []
    try:
        for _ in range(PUBLICATIONS):
            stop.wait(0.15)  # let a few batches of events go through between publications
            outcomes.append(_publish(stepwise, account_id, chance))
        stop.set()
        poster.join(10)

        def drained() -> bool:
            with stepwise.db.read() as conn:
                return inbox_store.depth(conn) == 0

        assert wait_until(drained, timeout=30), "the worker did not process every event"
    finally:
        stop.set()
        workers.stop()
    assert sum(posted) >= 50 and outcomes.count("pin") >= 2 and outcomes.count("migrate") >= 2, (sum(posted), outcomes)
    clock.advance(seconds=versions.SETTLE)  # the settling pass: runs a stale batch labelled with an old version
    versions.finish_migrations(stepwise.db, account_id, clock())
    settle(stepwise)
    _check(stepwise, account_id, "race")
