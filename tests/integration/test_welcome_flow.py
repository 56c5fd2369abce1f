"""A draft, a two-step sequence and a subscriber: the welcome email is archived and stats move (SPEC §7)."""

from __future__ import annotations

from datetime import timedelta

from stepwise.bootstrap import Stepwise
from stepwise.services import drafts, issues, sequences
from stepwise.services.drafts import DraftBody
from stepwise.services.subscribers import Edit, edit_one
from tests.support.clock import FakeClock
from tests.support.drive import settle

WELCOME = {
    "name": "Welcome",
    "status": "active",
    "steps": [
        {"variants": [{"when": [{"event": "subscriber_added"}], "do": [{"action": "send_email", "draft": "welcome"}]}]},
        {"variants": [{"when": [{"event": "time_passed", "after": "2d"}], "do": [{"action": "nothing"}]}]},
    ],
}


def test_welcome_email_is_sent_and_stats_follow_the_run(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id, _ = account
    drafts.put(
        stepwise.db,
        account_id,
        "welcome",
        DraftBody(
            subject="Hi {{ data.base.firstName }}",
            html="<p>Hello [% anketa.base.firstName %]</p>",
            from_email="news@example.com",
        ),
        clock(),
    )
    sequences.put(stepwise.db, account_id, "welcome", WELCOME, clock())
    edit_one(
        stepwise.db,
        account_id,
        "anna@example.com",
        Edit(data={"base": {"firstName": "Anna"}}),
        source="api",
        now=clock(),
        create=True,
    )
    settle(stepwise)

    items, _ = issues.page(
        stepwise.db, account_id, email=None, sequence=None, draft=None, status=None, cursor=None, limit=10
    )
    assert [(i.status, i.subject) for i in items] == [("sent", "Hi Anna")]
    message = issues.message(stepwise.db, account_id, items[0].id)
    assert message.html == "<p>Hello Anna</p>"
    assert message.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    stats = sequences.stats(stepwise.db, account_id, "welcome").model_dump()
    assert (stats["entered"], stats["on_steps"], stats["completed"]) == (1, 1, 0)
    assert stats["steps"][1]["on_step"] == 1

    clock.advance(timedelta(days=2))
    settle(stepwise)
    stats = sequences.stats(stepwise.db, account_id, "welcome").model_dump()
    assert (stats["entered"], stats["on_steps"], stats["completed"]) == (1, 0, 1)
    assert stats["steps"][1] == {
        "step": 2,
        "on_step": 0,
        # The rates and emails per variant are the API's (services/version_stats.py), not the counters'.
        "variants": [
            {"variant": 1, "fired": 1, "converted": 0, "conversion_rate": None}
            | {"sent": 0, "opened": 0, "clicked": 0, "open_rate": None, "click_rate": None}
        ],
        "converted": 0,
    }
