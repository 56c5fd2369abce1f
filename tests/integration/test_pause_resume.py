"""S11 through storage: a paused sequence holds its runs; on resume overdue deadlines fire at once."""

from __future__ import annotations

from datetime import timedelta

from stepwise.bootstrap import Stepwise
from stepwise.services import issues, sequences
from stepwise.services.events import PostedEvent, ingest
from stepwise.services.runs import of_subscriber
from stepwise.services.subscribers import Edit, edit_one
from tests.support.clock import FakeClock
from tests.support.drive import settle

DRIP = {
    "name": "Drip",
    "status": "active",
    "steps": [
        {"variants": [{"when": [{"event": "custom", "name": "go"}], "do": [{"action": "nothing"}]}]},
        {
            "variants": [
                {"when": [{"event": "custom", "name": "skip"}], "do": [{"action": "nothing"}]},
                {"when": [{"event": "time_passed", "after": "1d"}], "do": [{"action": "send_email", "draft": "d1"}]},
            ]
        },
        {
            "variants": [
                {"when": [{"event": "time_passed", "after": "1d"}], "do": [{"action": "send_email", "draft": "d2"}]}
            ]
        },
    ],
}


def _sent(stepwise: Stepwise, account_id: int) -> list[str]:
    items, _ = issues.page(
        stepwise.db, account_id, email=None, sequence=None, draft=None, status=None, cursor=None, limit=100
    )
    return sorted(i.draft for i in items)


def test_s11_pause_holds_runs_and_resume_fires_overdue_deadlines_once(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    from stepwise.services import drafts
    from stepwise.services.drafts import DraftBody

    account_id, _ = account
    for key in ("d1", "d2"):
        drafts.put(
            stepwise.db, account_id, key, DraftBody(subject=key, html="<p>x</p>", from_email="a@example.com"), clock()
        )
    sequences.put(stepwise.db, account_id, "drip", DRIP, clock())
    edit_one(stepwise.db, account_id, "anna@example.com", Edit(), source="api", now=clock(), create=True)
    ingest(stepwise.db, account_id, [PostedEvent(type="custom", name="go", email="anna@example.com")], clock())
    settle(stepwise)

    sequences.set_status(stepwise.db, account_id, "drip", "paused", clock())
    clock.advance(timedelta(hours=2))
    ingest(stepwise.db, account_id, [PostedEvent(type="custom", name="skip", email="anna@example.com")], clock())
    clock.advance(timedelta(days=5))
    settle(stepwise)
    assert _sent(stepwise, account_id) == []  # the event was dropped, the deadline held
    assert of_subscriber(stepwise.db, account_id, "anna@example.com")[0].step == 2

    resumed_at = clock()
    sequences.set_status(stepwise.db, account_id, "drip", "active", clock())
    settle(stepwise)
    assert _sent(stepwise, account_id) == ["d1"]  # once, at the resume; the next wait counts from now
    run = of_subscriber(stepwise.db, account_id, "anna@example.com")[0]
    assert run.step == 3
    assert (run.step_entered_at or "").startswith(resumed_at.isoformat()[:19])

    clock.advance(timedelta(hours=23))
    settle(stepwise)
    assert _sent(stepwise, account_id) == ["d1"]
    clock.advance(timedelta(hours=1))
    settle(stepwise)
    assert _sent(stepwise, account_id) == ["d1", "d2"]
    stats = sequences.stats(stepwise.db, account_id, "drip").model_dump()
    assert (stats["completed"], stats["on_steps"]) == (1, 0)
