"""S15: statistics equal what the stored history says, whatever random traffic came before (both databases)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from stepwise.bootstrap import Stepwise
from stepwise.services import runs as run_service
from stepwise.services import sequences as sequence_service
from stepwise.services.events import PostedEvent, ingest
from stepwise.services.subscribers import Edit, edit_one
from stepwise.storage import schema as t
from stepwise.storage.codec import loads
from tests.support.clock import FakeClock
from tests.support.drive import advance

JOURNEY = {
    "name": "Journey",
    "status": "active",
    "steps": [
        {
            "variants": [
                {
                    "when": [{"event": "custom", "name": "go"}],
                    "do": [{"action": "change_data", "increment": {"c.n": 1}}],
                },
                {"when": [{"event": "list_joined", "list": "vip"}], "do": [{"action": "nothing"}]},
            ]
        },
        {
            "variants": [
                {"when": [{"event": "custom", "name": "buy"}], "do": [{"action": "add_to_list", "list": "vip"}]},
                {"when": [{"event": "time_passed", "after": "1h"}], "do": [{"action": "nothing"}]},
                {
                    "when": [{"event": "data_matches", "where": {"field": "c.n", "op": "gte", "value": 3}}],
                    "do": [{"action": "stop_sequence"}],
                },
            ]
        },
        {
            "variants": [
                {"when": [{"event": "custom", "name": "go"}], "do": [{"action": "go_to_sequence", "sequence": "side"}]},
                {
                    "when": [{"event": "time_passed", "after": "2h"}],
                    "do": [{"action": "remove_from_list", "list": "vip"}],
                },
            ]
        },
    ],
}
SIDE = {
    "name": "Side",
    "status": "active",
    "steps": [
        {
            "variants": [
                {
                    "when": [{"event": "list_left", "list": "vip"}],
                    "do": [{"action": "change_data", "increment": {"c.n": 1}}],
                }
            ]
        },
        {"variants": [{"when": [{"event": "custom", "name": "go"}], "do": [{"action": "nothing"}]}]},
    ],
}
EMAILS = [f"p{n}@example.com" for n in range(3)]
operations = st.lists(
    st.one_of(
        st.tuples(st.just("event"), st.sampled_from(EMAILS), st.sampled_from(["go", "buy", "noise"])),
        st.tuples(st.just("time"), st.sampled_from([10, 45, 70, 150])),
        st.tuples(st.just("run"), st.sampled_from(EMAILS), st.sampled_from(["stop", "pause", "resume"])),
        st.tuples(st.just("sequence"), st.sampled_from(["pause", "activate"])),
        st.tuples(st.just("data"), st.sampled_from(EMAILS), st.integers(0, 4)),
    ),
    min_size=1,
    max_size=25,
)


def _setup(stepwise: Stepwise, account_id: int, clock: FakeClock) -> None:
    from stepwise.services import lists as list_service

    list_service.put(stepwise.db, account_id, "vip", "VIP", clock())
    sequence_service.put(stepwise.db, account_id, "side", SIDE, clock())
    sequence_service.put(stepwise.db, account_id, "journey", JOURNEY, clock())
    for email in EMAILS:
        edit_one(stepwise.db, account_id, email, Edit(), source="api", now=clock(), create=True)


def _history(stepwise: Stepwise, key: str) -> dict[str, object]:
    with stepwise.db.read() as conn:
        seq_id = conn.execute(select(t.sequences.c.id).where(t.sequences.c.key == key)).scalar_one()
        runs = conn.execute(select(t.runs).where(t.runs.c.sequence_id == seq_id)).all()
        fired = Counter(
            (loads(row.detail)["step"], loads(row.detail)["variant"])
            for row in conn.execute(
                select(t.timeline).where(t.timeline.c.kind == "transition", t.timeline.c.sequence == key)
            )
        )
    on_step = Counter(r.step for r in runs if r.status in ("active", "paused"))
    return {
        "entered": len(runs),
        "subscribers": len({r.subscriber_id for r in runs}),
        "completed": sum(r.status == "completed" for r in runs),
        "stopped_by": Counter(r.end_reason for r in runs if r.status == "stopped"),
        "on_step": on_step,
        "fired": fired,
    }


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_sequence_stats_equal_the_stored_history(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock, ops: list[tuple[object, ...]]
) -> None:
    from tests.support.databases import truncate_all

    if stepwise.db.is_sqlite:
        with stepwise.db.write() as conn:
            for table in reversed(t.metadata.sorted_tables):
                if table.name not in ("accounts", "api_keys", "settings"):
                    conn.execute(table.delete())
    else:
        truncate_all(stepwise.settings.database_url)
        account = (_recreate(stepwise), "")
    stepwise.catalog.forget(account[0])
    account_id = account[0]
    _setup(stepwise, account_id, clock)
    advance(stepwise)
    for op in ops:
        kind = op[0]
        if kind == "event":
            ingest(stepwise.db, account_id, [PostedEvent(type="custom", name=str(op[2]), email=str(op[1]))], clock())
        elif kind == "time":
            clock.advance(timedelta(minutes=int(op[1])))  # type: ignore[call-overload]
        elif kind == "run":
            try:
                run_service.control(
                    stepwise.db, stepwise.catalog, account_id, "journey", str(op[1]), str(op[2]), clock()
                )
            except Exception as exc:  # no open run to control: a 404, as the API would say
                assert getattr(exc, "status", None) in (404, 409)
        elif kind == "sequence":
            sequence_service.set_status(
                stepwise.db, account_id, "journey", "active" if op[1] == "activate" else "paused", clock()
            )
        elif kind == "data":
            edit_one(
                stepwise.db,
                account_id,
                str(op[1]),
                Edit(data={"c": {"n": op[2]}}),
                source="api",
                now=clock(),
                create=False,
            )
        advance(stepwise)
    for key in ("journey", "side"):
        stats = sequence_service.stats(stepwise.db, account_id, key).model_dump()
        history = _history(stepwise, key)
        assert stats["entered"] == history["entered"]
        assert stats["subscribers"] == history["subscribers"]
        assert stats["completed"] == history["completed"]
        assert {k: v for k, v in stats["stopped_by"].items() if v} == dict(history["stopped_by"])  # type: ignore[call-overload]
        assert {s["step"]: s["on_step"] for s in stats["steps"] if s["on_step"]} == dict(history["on_step"])  # type: ignore[call-overload]
        fired = {(s["step"], v["variant"]): v["fired"] for s in stats["steps"] for v in s["variants"] if v["fired"]}
        assert fired == dict(history["fired"])  # type: ignore[call-overload]
        assert stats["on_steps"] == sum(history["on_step"].values())  # type: ignore[attr-defined]


def _recreate(stepwise: Stepwise) -> int:
    from stepwise.services.accounts import create_account

    row, _ = create_account(stepwise.db, "acme", "UTC", stepwise.clock())
    return row.id
