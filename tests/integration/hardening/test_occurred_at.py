"""S13: a client's occurred_at is kept and shown beside the accepted time on the timeline, never reordering."""

from __future__ import annotations

from datetime import timedelta

from stepwise.bootstrap import Stepwise
from stepwise.services import sequences, timeline
from stepwise.services.events import PostedEvent, ingest
from stepwise.services.subscribers import Edit, edit_one
from tests.support.clock import FakeClock
from tests.support.drive import advance

TWO_STEPS = {
    "name": "Orders",
    "status": "active",
    "steps": [
        {"variants": [{"when": [{"event": "custom", "name": "first"}], "do": [{"action": "nothing"}]}]},
        {"variants": [{"when": [{"event": "custom", "name": "second"}], "do": [{"action": "nothing"}]}]},
    ],
}


def test_s13_occurred_at_is_on_the_timeline_beside_the_accepted_time(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id, _ = account
    sequences.put(stepwise.db, account_id, "orders", TWO_STEPS, clock())
    edit_one(stepwise.db, account_id, "anna@example.com", Edit(), source="api", now=clock(), create=True)
    accepted = clock()
    ingest(
        stepwise.db,
        account_id,
        [
            # "second" claims to have happened later than "first" but is accepted first: it does not count.
            PostedEvent(type="custom", name="second", email="anna@example.com", occurred_at="2030-01-02T00:00:00Z"),
            PostedEvent(type="custom", name="first", email="anna@example.com", occurred_at="2001-01-01T10:00:00+02:00"),
            PostedEvent(type="custom", name="second", email="anna@example.com"),
        ],
        accepted,
    )
    clock.advance(timedelta(seconds=5))
    advance(stepwise)

    page, _ = timeline.page(stepwise.db, account_id, "anna@example.com", cursor=None, limit=100)
    items = [entry.model_dump() for entry in page]
    events = [(e["payload"]["name"], e["at"], e.get("occurred_at")) for e in items if e.get("event") == "custom"]
    at = accepted.isoformat().replace("+00:00", "Z")
    assert events == [
        ("second", at, "2030-01-02T00:00:00Z"),
        ("first", at, "2001-01-01T08:00:00Z"),
        ("second", at, None),
    ]
    moved = [(e["step"], e["trigger"]) for e in items if e["kind"] == "transition"]
    assert moved == [(1, "custom"), (2, "custom")]  # entered by "first", moved on by the last "second"
