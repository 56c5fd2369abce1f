"""A run that ends and its sequence entered again by the next event of the same batch (S1, S2).

Pass 1 is closed before pass 2 is written, so the one-open-run index accepts pass 2 and no event
is set aside.
"""

from __future__ import annotations

from sqlalchemy import text

from stepwise.bootstrap import Stepwise
from stepwise.services import lists, sequences
from stepwise.services.events import PostedEvent, ingest
from stepwise.services.runs import of_subscriber
from stepwise.services.subscribers import Edit, edit_one
from tests.support.clock import FakeClock
from tests.support.drive import advance

ORDERS = {
    "name": "Orders",
    "status": "active",
    "steps": [
        {"variants": [{"when": [{"event": "custom", "name": "ordered"}], "do": [{"action": "nothing"}]}]},
        {
            "variants": [
                {"when": [{"event": "custom", "name": "paid"}], "do": [{"action": "add_to_list", "list": "vip"}]}
            ]
        },
    ],
}
# Joining "vip" starts Orders again: the event that ends pass 1 also starts pass 2, in one transition chain.
AGAIN = {
    "name": "Again",
    "status": "active",
    "steps": [
        {
            "variants": [
                {
                    "when": [{"event": "list_joined", "list": "vip"}],
                    "do": [{"action": "start_sequence", "sequence": "orders"}],
                }
            ]
        }
    ],
}


def _post(stepwise: Stepwise, account_id: int, clock: FakeClock, *names: str) -> None:
    events = [PostedEvent(type="custom", name=name, email="anna@example.com") for name in names]
    ingest(stepwise.db, account_id, events, clock())


def test_s1_a_run_that_ends_and_restarts_in_one_batch_keeps_both_passes(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id, _ = account
    lists.put(stepwise.db, account_id, "vip", "VIP", clock())
    sequences.put(stepwise.db, account_id, "orders", ORDERS, clock())
    sequences.put(stepwise.db, account_id, "again", AGAIN, clock())
    edit_one(stepwise.db, account_id, "anna@example.com", Edit(), source="api", now=clock(), create=True)
    _post(stepwise, account_id, clock, "ordered")
    advance(stepwise)
    _post(stepwise, account_id, clock, "paid")  # pass 1 completes and pass 2 starts, from one event
    advance(stepwise)

    runs = of_subscriber(stepwise.db, account_id, "anna@example.com")
    assert sorted((r.pass_, r.status, r.step) for r in runs if r.sequence == "orders") == [
        (1, "completed", 2),
        (2, "active", 2),
    ]
    with stepwise.db.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM quarantine")).scalar_one() == 0
