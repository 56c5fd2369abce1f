"""S26 at step 1, end to end on both databases: the system finds the subscribers whose profile date is
due (by an index on the instant, not a scan of everyone) and enters them at local `at`; every year
enters again; 29 February falls on 28 February; profile changes move the date; an unparsable date is
noted and enters nobody; paused, edited and deleted sequences and deleted subscribers keep no dates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text

from stepwise.bootstrap import Stepwise
from stepwise.services import date_triggers, sequences, timeline
from stepwise.services import settings as account_settings
from stepwise.services.subscribers import Edit, edit_one
from stepwise.services.subscribers import delete as delete_subscriber
from stepwise.storage import date_triggers as store
from stepwise.storage.schema_dates import date_triggers as D
from tests.support.clock import FakeClock
from tests.support.drive import settle

EMAIL = "vera@example.com"


def _birthday(spec: dict[str, Any] | None = None, status: str = "active") -> dict[str, Any]:
    when = {"event": "date_reached", "field": "birthday", "every_year": True, **(spec or {})}
    return {
        "name": "Birthday",
        "status": status,
        "steps": [{"variants": [{"when": [when], "do": [{"action": "nothing"}]}]}],
    }


def _entered(stepwise: Stepwise, account_id: int) -> int:
    return int(sequences.stats(stepwise.db, account_id, "birthday").model_dump()["entered"])


def _entered_around(stepwise: Stepwise, account_id: int, clock: FakeClock, moment: datetime) -> tuple[int, int]:
    """(entered a minute before `moment`, entered at it)."""
    clock.set(moment - timedelta(minutes=1))
    settle(stepwise)
    before = _entered(stepwise, account_id)
    clock.set(moment)
    settle(stepwise)
    return before, _entered(stepwise, account_id)


def _profile(stepwise: Stepwise, account_id: int, clock: FakeClock, data: dict[str, Any], email: str = EMAIL) -> None:
    edit_one(stepwise.db, account_id, email, Edit(data=data), source="api", now=clock(), create=True)


def _rows(stepwise: Stepwise) -> list[tuple[int, int]]:
    with stepwise.db.read() as conn:
        return [(int(s), int(d)) for s, d in conn.execute(select(D.c.subscriber_id, D.c.due_at))]


def test_S26_a_birthday_at_step_1_enters_at_nine_and_again_next_year(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id, _ = account
    sequences.put(stepwise.db, account_id, "birthday", _birthday(), clock())
    _profile(stepwise, account_id, clock, {"birthday": "1990-03-10"})
    assert _entered_around(stepwise, account_id, clock, datetime(2026, 3, 10, 9, 0, tzinfo=UTC)) == (0, 1)
    assert _entered_around(stepwise, account_id, clock, datetime(2027, 3, 10, 9, 0, tzinfo=UTC)) == (1, 2)
    items, _ = timeline.page(stepwise.db, account_id, EMAIL, cursor=None, limit=200)
    entries = [i.model_dump() for i in items if i.kind == "transition"]
    assert entries and entries[0]["trigger"] == "date_reached"


def test_S26_subscribers_who_existed_before_the_sequence_are_found_when_it_is_activated(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id, _ = account
    for n in range(5):
        _profile(stepwise, account_id, clock, {"birthday": f"1985-04-0{n + 1}"}, email=f"s{n}@example.com")
    _profile(stepwise, account_id, clock, {"name": "no date"}, email="nodate@example.com")
    sequences.put(stepwise.db, account_id, "birthday", _birthday(status="paused"), clock())
    assert _rows(stepwise) == []  # a paused sequence keeps no dates
    sequences.set_status(stepwise.db, account_id, "birthday", "active", clock())
    assert len(_rows(stepwise)) == 5
    assert _entered_around(stepwise, account_id, clock, datetime(2026, 4, 3, 9, 0, tzinfo=UTC)) == (2, 3)


def test_S26_a_profile_change_moves_the_step_1_date(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id, _ = account
    sequences.put(stepwise.db, account_id, "birthday", _birthday({"every_year": False, "at": "18:00"}), clock())
    _profile(stepwise, account_id, clock, {"birthday": "2026-02-01"})
    _profile(stepwise, account_id, clock, {"birthday": "2026-02-20"})
    assert _entered_around(stepwise, account_id, clock, datetime(2026, 2, 1, 18, 0, tzinfo=UTC)) == (0, 0)
    assert _entered_around(stepwise, account_id, clock, datetime(2026, 2, 20, 18, 0, tzinfo=UTC)) == (0, 1)
    assert _rows(stepwise) == []  # a one-off date that fired has nothing ahead


def test_S26_29_february_enters_on_28_february_in_a_non_leap_year(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id, _ = account
    sequences.put(stepwise.db, account_id, "birthday", _birthday({"timezone": "Europe/Berlin"}), clock())
    _profile(stepwise, account_id, clock, {"birthday": "2000-02-29"})
    # 09:00 in Berlin (UTC+1 in winter) on 28 February 2026.
    assert _entered_around(stepwise, account_id, clock, datetime(2026, 2, 28, 8, 0, tzinfo=UTC)) == (0, 1)


def test_S26_an_unparsable_date_at_step_1_is_noted_and_enters_nobody(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id, _ = account
    sequences.put(stepwise.db, account_id, "birthday", _birthday(), clock())
    _profile(stepwise, account_id, clock, {"birthday": "around Easter"})
    clock.advance(days=400)
    settle(stepwise)
    assert _entered(stepwise, account_id) == 0
    items, _ = timeline.page(stepwise.db, account_id, EMAIL, cursor=None, limit=200)
    notes = [i.model_dump() for i in items if i.kind == "date_unparsable"]
    assert [(n["field"], n["value"], n["sequence"]) for n in notes] == [("birthday", "around Easter", "birthday")]


def test_S26_pausing_editing_and_deleting_keep_step_1_dates_true(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id, _ = account
    sequences.put(stepwise.db, account_id, "birthday", _birthday(), clock())
    _profile(stepwise, account_id, clock, {"birthday": "1990-03-10", "renewal": "2026-05-01"})
    assert len(_rows(stepwise)) == 1
    sequences.set_status(stepwise.db, account_id, "birthday", "paused", clock())
    assert _rows(stepwise) == []
    edited = _birthday({"field": "renewal", "every_year": False})
    sequences.put(stepwise.db, account_id, "birthday", edited, clock())
    expected = int(datetime(2026, 5, 1, 9, 0, tzinfo=UTC).timestamp() * 1_000_000)
    assert [d for _, d in _rows(stepwise)] == [expected]  # the live version's field, found again
    delete_subscriber(stepwise.db, stepwise.catalog, account_id, EMAIL, clock())
    assert _rows(stepwise) == []
    _profile(stepwise, account_id, clock, {"renewal": "2026-06-01"}, email="next@example.com")
    assert len(_rows(stepwise)) == 1
    sequences.delete(stepwise.db, account_id, "birthday")
    assert _rows(stepwise) == []
    with stepwise.db.read() as conn:
        assert store.sequences_of(conn, account_id) == {}


def test_S26_due_step_1_dates_are_read_by_an_index_on_the_instant(stepwise: Stepwise) -> None:
    due = select(D.c.subscriber_id).where(D.c.due_at <= 1).order_by(D.c.due_at).limit(1000)
    with stepwise.db.write() as conn:
        if stepwise.db.is_sqlite:
            sql = str(due.compile(conn, compile_kwargs={"literal_binds": True}))
            plan = " ".join(str(r[-1]) for r in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
        else:
            conn.execute(text("SET LOCAL enable_seqscan = off"))
            sql = str(due.compile(conn, compile_kwargs={"literal_binds": True}))
            plan = " ".join(str(r[0]) for r in conn.execute(text(f"EXPLAIN {sql}")))
    assert "ix_date_triggers_due_at" in plan, plan


def test_S26_step_1_dates_follow_a_change_of_the_account_zone(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id, _ = account
    sequences.put(stepwise.db, account_id, "birthday", _birthday(), clock())
    _profile(stepwise, account_id, clock, {"birthday": "1990-03-10"})
    current = account_settings.get(stepwise.db, account_id)
    account_settings.put(stepwise.db, account_id, current.model_copy(update={"timezone": "America/New_York"}), clock())
    nine_in_new_york = datetime(2026, 3, 10, 13, 0, tzinfo=UTC)  # EDT (UTC-4) since 8 March
    assert [d for _, d in _rows(stepwise)] == [int(nine_in_new_york.timestamp() * 1_000_000)]


def test_S26_the_worker_of_a_process_finds_due_step_1_dates_by_itself(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id, _ = account
    sequences.put(stepwise.db, account_id, "birthday", _birthday({"every_year": False}), clock())
    _profile(stepwise, account_id, clock, {"birthday": "2026-01-05"})  # 09:00 today: not after now, never
    _profile(stepwise, account_id, clock, {"birthday": "2026-01-06"}, email="next@example.com")
    advancer = stepwise.worker().advancer  # as `stepwise serve` and `stepwise worker` wire it
    clock.set(datetime(2026, 1, 6, 9, 0, 5, tzinfo=UTC))
    advancer.run_once()  # the timed work queues the event ...
    advancer.run_once()  # ... and the batch enters the sequence
    assert _entered(stepwise, account_id) == 1


def test_S26_a_large_account_s_dates_are_found_by_the_worker_a_batch_at_a_time(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock, monkeypatch: Any
) -> None:
    account_id, _ = account
    monkeypatch.setattr(date_triggers, "BACKFILL_BATCH", 2)  # five subscribers stand for a large account
    for n in range(5):
        _profile(stepwise, account_id, clock, {"birthday": f"1985-04-0{n + 1}"}, email=f"s{n}@example.com")
    sequences.put(stepwise.db, account_id, "birthday", _birthday(), clock())
    assert len(_rows(stepwise)) == 2  # the first batch in the request that activated it
    assert date_triggers.dates_ahead(stepwise.db, account_id, "birthday") == (2, True)
    assert [date_triggers.backfill(stepwise.db, clock()) for _ in range(3)] == [2, 1, 0]
    assert date_triggers.dates_ahead(stepwise.db, account_id, "birthday") == (5, False)
