"""S23 random split end to end, on both databases: subscribers arrive at a split step and each gets
exactly one of its emails; the choice is the pure hash's; bad weights are refused and change nothing."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select

from stepwise.bootstrap import Stepwise
from stepwise.engine.splits import split_variant
from stepwise.errors import NotFound, Unprocessable
from stepwise.services import drafts, issues, sequences
from stepwise.services.catalog import SequenceCatalog
from stepwise.services.drafts import DraftBody
from stepwise.services.journey_stats import variant_mail
from stepwise.services.subscribers import Edit, edit_one
from stepwise.storage import issues as issue_store
from stepwise.storage import schema as t
from tests.support.clock import FakeClock
from tests.support.drive import settle

N = 40


def _variant(weight: int, draft: str) -> dict[str, object]:
    return {"when": [{"event": "split", "weight": weight}], "do": [{"action": "send_email", "draft": draft}]}


PROMO = {
    "name": "Subject test",
    "status": "active",
    "steps": [
        {"variants": [{"when": [{"event": "subscriber_added"}], "do": [{"action": "nothing"}]}]},
        {"variants": [_variant(50, "a"), _variant(50, "b")]},
    ],
}


def test_S23_each_subscriber_gets_exactly_the_variant_the_hash_picks(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id, _ = account
    for key in ("a", "b"):
        drafts.put(
            stepwise.db, account_id, key, DraftBody(subject=key, html="<p>x</p>", from_email="n@example.com"), clock()
        )
    sequences.put(stepwise.db, account_id, "promo", PROMO, clock())
    for i in range(N):
        edit_one(stepwise.db, account_id, f"s{i}@example.com", Edit(), source="api", now=clock(), create=True)
    settle(stepwise)

    items, _ = issues.page(
        stepwise.db, account_id, email=None, sequence="promo", draft=None, status=None, cursor=None, limit=100
    )
    got = {item.email: (item.draft, item.variant) for item in items}
    assert len(items) == N == len(got)  # exactly one email each
    assert all(variant is not None and draft == "ab"[variant - 1] for draft, variant in got.values())
    per_draft = Counter(draft for draft, _ in got.values())
    assert per_draft["a"] > 0 and per_draft["b"] > 0

    stats = sequences.stats(stepwise.db, account_id, "promo").model_dump()
    fired = {v["variant"]: v["fired"] for v in stats["steps"][1]["variants"]}
    assert fired == {1: per_draft["a"], 2: per_draft["b"]}
    assert stats["completed"] == N


def test_S23_the_choice_matches_the_pure_function(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id, _ = account
    for key in ("a", "b"):
        drafts.put(
            stepwise.db, account_id, key, DraftBody(subject=key, html="<p>x</p>", from_email="n@example.com"), clock()
        )
    sequences.put(stepwise.db, account_id, "promo", PROMO, clock())
    for i in range(10):
        edit_one(stepwise.db, account_id, f"s{i}@example.com", Edit(), source="api", now=clock(), create=True)
    settle(stepwise)
    with stepwise.db.read() as conn:
        info = SequenceCatalog().for_account(conn, account_id).infos["promo"]
        rows = conn.execute(
            select(t.subscribers.c.email, t.subscribers.c.id).where(t.subscribers.c.account_id == account_id)
        )
        ids: dict[str, int] = {row.email: row.id for row in rows}
    assert info.account_id == account_id
    items, _ = issues.page(
        stepwise.db, account_id, email=None, sequence="promo", draft=None, status=None, cursor=None, limit=100
    )
    for item in items:
        chosen = split_variant(info, ids[item.email], 1, 2)
        assert chosen is not None and item.variant == chosen + 1


@pytest.mark.parametrize(
    ("variants", "message"),
    [
        ([_variant(5, "a")], "a split step needs at least two variants"),
        ([_variant(0, "a"), _variant(0, "b")], "the weights of a split step must not all be 0"),
    ],
)
def test_S23_bad_weights_are_refused_and_change_nothing(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock, variants: list[object], message: str
) -> None:
    account_id, _ = account
    for key in ("a", "b"):
        drafts.put(
            stepwise.db, account_id, key, DraftBody(subject=key, html="<p>x</p>", from_email="n@example.com"), clock()
        )
    bad = {**PROMO, "steps": [PROMO["steps"][0], {"variants": variants}]}
    with pytest.raises(Unprocessable) as caught:
        sequences.put(stepwise.db, account_id, "promo", bad, clock())
    assert [p["message"] for p in caught.value.details] == [message]
    with pytest.raises(NotFound):
        sequences.stats(stepwise.db, account_id, "promo")


def test_S23_email_rates_per_variant_side_by_side(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id, _ = account
    for key in ("a", "b"):
        body = DraftBody(subject=key, html="<p>x</p>", from_email="n@example.com")
        drafts.put(stepwise.db, account_id, key, body, clock())
    sequences.put(stepwise.db, account_id, "promo", PROMO, clock())
    for i in range(N):
        edit_one(stepwise.db, account_id, f"s{i}@example.com", Edit(), source="api", now=clock(), create=True)
    settle(stepwise)
    items, _ = issues.page(
        stepwise.db, account_id, email=None, sequence="promo", draft=None, status=None, cursor=None, limit=100
    )
    first_a = next(item for item in items if item.variant == 1)
    with stepwise.db.write() as conn:
        assert issue_store.mark_first(conn, account_id, first_a.id, "opened_at", 1)
        assert issue_store.mark_first(conn, account_id, first_a.id, "clicked_at", 2)

    mail = variant_mail(stepwise.db, account_id, "promo")
    sent = Counter(item.variant for item in items if item.status == "sent")
    assert set(mail) == {(2, 1), (2, 2)}
    assert {v: mail[(2, v)].sent for v in (1, 2)} == {1: sent[1], 2: sent[2]}
    a, b = mail[(2, 1)], mail[(2, 2)]
    assert (a.opened, a.clicked, b.opened, b.clicked) == (1, 1, 0, 0)
    assert a.open_rate == a.click_rate == round(100 / sent[1], 1)
    assert b.open_rate == b.click_rate == 0.0
    assert variant_mail(stepwise.db, account_id, "nothing-here") == {}

    from stepwise.services import version_stats  # what GET /sequences/{key}/stats answers

    [step_2] = [s for s in version_stats.stats(stepwise.db, account_id, "promo").steps if s.step == 2]
    shown = {v.variant: (v.sent, v.opened, v.clicked, v.open_rate, v.click_rate) for v in step_2.variants}
    rate_a = round(1 / sent[1], 4)
    assert shown == {1: (sent[1], 1, 1, rate_a, rate_a), 2: (sent[2], 0, 0, 0.0, 0.0)}
    assert {v.conversion_rate for v in step_2.variants} == {0.0}  # fired, no goal reached
