"""The dialects' batch statements give the same answers on both databases, whatever the batch size.

Ids bound as one parameter (`ids_in`, `rows_in`), rows inserted or upserted from
arrays on PostgreSQL: a batch of 2,000 ids (more than one SQLite parameter list) and an empty one.
"""

from __future__ import annotations

from sqlalchemy import select

from stepwise.bootstrap import Stepwise
from stepwise.storage import dialects
from stepwise.storage import schema as t
from stepwise.storage.schema_segments import segment_deadlines as D
from stepwise.storage.schema_segments import segment_members as M

MANY = 2000


def test_ids_bound_as_one_parameter_find_exactly_the_rows_asked_for(stepwise: Stepwise) -> None:
    with stepwise.db.write() as conn:
        dialects.insert_ignore(
            conn, M, [{"account_id": 1, "segment_id": 7, "subscriber_id": s, "joined_at": 5} for s in range(MANY)]
        )
    wanted = list(range(1, MANY * 2, 2))  # half of them exist
    with stepwise.db.read() as conn:
        query = select(M.c.subscriber_id).where(dialects.ids_in(conn, M.c.subscriber_id, wanted))
        found = {r[0] for r in conn.execute(query)}
        raw = dialects.rows_in(conn, "SELECT subscriber_id FROM segment_members WHERE subscriber_id IN ({ids})", wanted)
        none = conn.execute(select(M.c.subscriber_id).where(dialects.ids_in(conn, M.c.subscriber_id, []))).all()
        no_rows = dialects.rows_in(conn, "SELECT subscriber_id FROM segment_members WHERE subscriber_id IN ({ids})", [])
    assert found == {r[0] for r in raw} == {s for s in wanted if s < MANY}
    assert none == [] and no_rows == []


def test_insert_ignore_keeps_the_first_row_and_upsert_replaces_the_other_columns(stepwise: Stepwise) -> None:
    with stepwise.db.write() as conn:
        dialects.insert_ignore(conn, M, [{"account_id": 1, "segment_id": 1, "subscriber_id": 1, "joined_at": 10}])
        dialects.insert_ignore(
            conn,
            M,
            [{"account_id": 1, "segment_id": 1, "subscriber_id": s, "joined_at": 20} for s in range(1, MANY + 1)],
        )
        columns = ("account_id", "segment_id", "subscriber_id", "due_at")
        key = ("segment_id", "subscriber_id")
        dialects.upsert_tuples(conn, D, columns, key, [(1, 1, s, 100) for s in range(MANY)])
        dialects.upsert_tuples(conn, D, columns, key, [(1, 1, s, 200 + s) for s in range(0, MANY, 2)])
        dialects.upsert_tuples(conn, D, columns, key, [])
    with stepwise.db.read() as conn:
        joined = {r[0]: r[1] for r in conn.execute(select(M.c.subscriber_id, M.c.joined_at))}
        due = {r[0]: r[1] for r in conn.execute(select(D.c.subscriber_id, D.c.due_at))}
    assert len(joined) == MANY and joined[1] == 10 and joined[MANY] == 20
    assert len(due) == MANY
    assert all(at == (200 + s if s % 2 == 0 else 100) for s, at in due.items())


def test_insert_ignore_returning_names_only_the_rows_it_inserted(stepwise: Stepwise) -> None:
    def rows(ids: range) -> list[dict[str, int]]:
        return [{"account_id": 1, "segment_id": 3, "subscriber_id": s, "joined_at": 30} for s in ids]

    with stepwise.db.write() as conn:
        first = dialects.insert_ignore_returning(conn, M, rows(range(0, MANY, 2)), "subscriber_id")
        second = dialects.insert_ignore_returning(conn, M, rows(range(MANY)), "subscriber_id")
        none = dialects.insert_ignore_returning(conn, M, [], "subscriber_id")
    assert sorted(first) == list(range(0, MANY, 2))
    assert sorted(second) == list(range(1, MANY, 2))  # the even ones were there already
    assert none == []


TRICKY = ['say "hi"', "back\\slash", "{braces,commas}", "NULL", "", " spaced ", "ünï €", None]


def test_updates_and_array_inserts_carry_any_text_bool_and_null_unchanged(stepwise: Stepwise) -> None:
    """PostgreSQL gets these columns as array literals built by hand: quoting must round-trip exactly."""
    base = {"account_id": 1, "sequence_id": 1, "pass_no": 1, "status": "ended", "step": 1}
    rows = [
        {**base, "id": n, "subscriber_id": n, "entered_at": n, "step_entered_at": n, "recheck": False, "entry": text}
        for n, text in enumerate(TRICKY, start=1)
    ]
    with stepwise.db.write() as conn:
        dialects.insert_ignore(conn, t.runs, rows)
        changes = [
            {"id": n, "end_reason": text, "recheck": n % 2 == 0, "ended_at": None if n % 3 else n * 10}
            for n, text in enumerate(reversed(TRICKY), start=1)
        ]
        dialects.fast_update(conn, t.runs, "id", changes)
    with stepwise.db.read() as conn:
        stored = {r.id: r for r in conn.execute(select(t.runs))}
    for n, text in enumerate(TRICKY, start=1):
        assert stored[n].entry == text
    for change in changes:
        row = stored[change["id"]]
        assert (row.end_reason, row.recheck, row.ended_at) == (
            change["end_reason"],
            change["recheck"],
            change["ended_at"],
        )


def test_reads_per_id_and_deletes_by_array_match_the_plain_forms(stepwise: Stepwise) -> None:
    """rows_each (one index probe per id on PostgreSQL) answers as rows_in; repeated ids count once."""
    with stepwise.db.write() as conn:
        dialects.insert_ignore(
            conn, M, [{"account_id": 1, "segment_id": s % 3, "subscriber_id": s, "joined_at": 5} for s in range(MANY)]
        )
    sql = "SELECT subscriber_id, segment_id FROM segment_members WHERE account_id = ? AND subscriber_id IN ({ids})"
    wanted = [*range(1, MANY * 2, 2), 1, 3]  # half of them exist, two twice
    with stepwise.db.read() as conn:
        each = dialects.rows_each(conn, sql, wanted, before=[1])
        plain = dialects.rows_in(conn, sql, list(dict.fromkeys(wanted)), before=[1])
        other_account = dialects.rows_each(conn, sql, wanted, before=[2])
        none = dialects.rows_each(conn, sql, [], before=[1])
    assert sorted(each) == sorted(plain) == [(s, s % 3) for s in range(1, MANY, 2)]
    assert other_account == [] and none == []
    with stepwise.db.write() as conn:
        dialects.fast_delete(conn, M, "subscriber_id", list(range(0, MANY, 2)))
        dialects.fast_delete(conn, M, "subscriber_id", [])
    with stepwise.db.read() as conn:
        left = {r[0] for r in conn.execute(select(M.c.subscriber_id))}
    assert left == set(range(1, MANY, 2))


def test_reads_per_text_key_find_each_key(stepwise: Stepwise) -> None:
    keys = ["plain@example.com", 'quote"d@example.com', "back\\slash@example.com", "{brace}@example.com"]
    with stepwise.db.write() as conn:
        for n, key in enumerate(keys, start=1):
            conn.execute(
                t.subscribers.insert().values(
                    id=n, account_id=1, email=key, email_key=key, status="active", data="{}", created_at=1, updated_at=1
                )
            )
    sql = "SELECT email_key, id FROM subscribers WHERE account_id = ? AND email_key IN ({ids})"
    with stepwise.db.read() as conn:
        found = dict(dialects.rows_each(conn, sql, [*keys, "absent@example.com"], before=[1], item="VARCHAR"))
    assert found == {key: n for n, key in enumerate(keys, start=1)}
