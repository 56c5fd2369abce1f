"""CSV import (SPEC §5): strict streaming parsing, per-row errors, options and the events it emits."""

from __future__ import annotations

import io
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stepwise.bootstrap import Stepwise
from stepwise.domain.emails import InvalidEmail, parse_email
from stepwise.errors import Unprocessable
from stepwise.services import csvreader, imports, lists, sequences
from stepwise.services import subscribers as subscriber_service
from stepwise.services.csvreader import CsvReader
from stepwise.services.import_rows import address
from stepwise.services.imports import ImportOptions, ImportRejected, get_import, list_imports
from stepwise.services.subscribers import Edit, edit_one
from stepwise.storage import imports as import_store
from stepwise.storage import schema
from tests.integration.audience.support import clear_inbox, entered, one_step, queued_events
from tests.support.drive import advance


def run(stepwise: Stepwise, account_id: int, content: str | bytes, **options: Any) -> dict[str, Any]:
    raw = content.encode() if isinstance(content, str) else content
    report = imports.run_import(stepwise.db, account_id, io.BytesIO(raw), ImportOptions(**options), stepwise.clock())
    return report.model_dump()


def counts(report: dict[str, Any]) -> tuple[int, int, int, int, int]:
    return report["rows"], report["created"], report["updated"], report["unchanged"], report["failed"]


def sub(stepwise: Stepwise, account_id: int, email: str) -> dict[str, Any]:
    return subscriber_service.get(stepwise.db, account_id, email).model_dump()


@pytest.fixture
def account_id(stepwise: Stepwise, account: tuple[int, str]) -> int:
    for key in ("news", "vip"):
        lists.put(stepwise.db, account[0], key, key.title(), stepwise.clock())
    return account[0]


def test_rows_become_subscribers_with_data_paths_and_lists(stepwise: Stepwise, account_id: int) -> None:
    report = run(
        stepwise,
        account_id,
        "email,base.firstName,custom.plan,lists\nAnna@Example.COM,Anna,pro,vip\nbob@example.com,Bob,,vip; news\n",
        list_key="news",
    )
    assert counts(report) == (2, 2, 0, 0, 0)
    assert report["errors"] == []
    anna = sub(stepwise, account_id, "anna@example.com")
    assert (anna["email"], anna["status"]) == ("Anna@example.com", "active")
    assert anna["data"] == {"base": {"firstName": "Anna"}, "custom": {"plan": "pro"}}
    assert anna["lists"] == ["news", "vip"]
    assert sub(stepwise, account_id, "bob@example.com")["data"] == {"base": {"firstName": "Bob"}}


def test_utf8_bom_crlf_and_quoted_fields_are_read(stepwise: Stepwise, account_id: int) -> None:
    content = '\ufeffemail,base.note\r\n"ann@x.com","says ""hi"",\r\nthen leaves"\r\nbob@x.com,"a,b"\r\n'
    report = run(stepwise, account_id, content)
    assert counts(report) == (2, 2, 0, 0, 0)
    assert sub(stepwise, account_id, "ann@x.com")["data"] == {"base": {"note": 'says "hi",\r\nthen leaves'}}
    assert sub(stepwise, account_id, "bob@x.com")["data"] == {"base": {"note": "a,b"}}


def test_semicolon_and_tab_delimited_files_are_recognised_by_their_header(stepwise: Stepwise, account_id: int) -> None:
    assert counts(run(stepwise, account_id, "email;base.city\nann@x.com;Kazan\n")) == (1, 1, 0, 0, 0)
    assert counts(run(stepwise, account_id, "email\tbase.city\nbob@x.com\tOslo\n")) == (1, 1, 0, 0, 0)
    assert sub(stepwise, account_id, "bob@x.com")["data"] == {"base": {"city": "Oslo"}}


def test_an_unterminated_quote_fails_its_line_and_the_rows_after_it_still_import(
    stepwise: Stepwise, account_id: int
) -> None:
    content = 'email,base.name\nann@x.com,Ann\nbob@x.com,"Bob\ncid@x.com,Cid\ndan@x.com,Dan\n'
    report = run(stepwise, account_id, content)
    assert counts(report) == (4, 3, 0, 0, 1)
    assert report["errors"] == [
        {"line": 3, "message": "a quoted field is not terminated (a quote opened here is never closed)"}
    ]
    assert sub(stepwise, account_id, "dan@x.com")["data"] == {"base": {"name": "Dan"}}


def test_a_stray_quote_before_a_quoted_field_fails_only_its_own_line(stepwise: Stepwise, account_id: int) -> None:
    content = 'email,base.name\n"ann@x.com,Ann\n"bob@x.com","Bob"\n'
    report = run(stepwise, account_id, content)
    assert counts(report) == (2, 1, 0, 0, 1)
    assert report["errors"][0]["line"] == 2
    assert sub(stepwise, account_id, "bob@x.com")["data"] == {"base": {"name": "Bob"}}


def test_nul_bytes_and_bad_utf8_fail_their_rows_only(stepwise: Stepwise, account_id: int) -> None:
    content = b"email,base.name\nann@x.com,A\x00nn\nbob@x.com,B\xe9b\ncid@x.com,\xd0\x9a\xd0\xb8\xd0\xb4\n"
    report = run(stepwise, account_id, content)
    assert counts(report) == (3, 1, 0, 0, 2)
    assert report["errors"] == [
        {"line": 2, "message": "the line contains a NUL byte"},
        {"line": 3, "message": "the line is not valid UTF-8 text"},
    ]
    assert sub(stepwise, account_id, "cid@x.com")["data"] == {"base": {"name": "Кид"}}


def test_a_bad_line_inside_a_multiline_record_is_named(stepwise: Stepwise, account_id: int) -> None:
    report = run(stepwise, account_id, b'email,base.note\nann@x.com,"one\ntw\xffo"\nbob@x.com,ok\n')
    assert report["errors"] == [{"line": 2, "message": "line 3 is not valid UTF-8 text"}]
    assert counts(report) == (2, 1, 0, 0, 1)


def test_row_errors_carry_line_numbers_and_do_not_stop_other_rows(stepwise: Stepwise, account_id: int) -> None:
    content = (
        "email,base.name,lists\n"
        "not-an-address,X,\n"  # 2
        ",Nobody,\n"  # 3
        "ann@x.com,Ann,nolist\n"  # 4
        "bob@x.com,Bob,,extra\n"  # 5
        "\n"  # 6: blank, not a row
        ",,\n"  # 7: empty cells, not a row
        "cid@x.com,Cid,news;Bad Key\n"  # 8
        "dan@x.com,Dan,\n"  # 9
    )
    report = run(stepwise, account_id, content)
    assert counts(report) == (6, 1, 0, 0, 5)
    assert [e["line"] for e in report["errors"]] == [2, 3, 4, 5, 8]
    messages = [e["message"] for e in report["errors"]]
    assert messages[0].startswith("invalid email address 'not-an-address'")
    assert messages[1] == "the email address is empty"
    assert messages[2] == "unknown list 'nolist'"
    assert messages[3] == "has 4 values but the header names 3 columns"
    assert messages[4] == "unknown list 'Bad Key'"


def test_a_repeated_address_keeps_the_first_row(stepwise: Stepwise, account_id: int) -> None:
    report = run(stepwise, account_id, "email,base.name\nann@x.com,Ann\nANN@x.com,Other\n")
    assert counts(report) == (2, 1, 0, 0, 1)
    assert report["errors"] == [
        {"line": 3, "message": "the address 'ANN@x.com' already appeared on line 2; only that row is imported"}
    ]
    assert sub(stepwise, account_id, "ann@x.com")["data"] == {"base": {"name": "Ann"}}


def test_a_repeated_address_is_found_across_batches(
    stepwise: Stepwise, account_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports, "BATCH_ROWS", 2)
    report = run(stepwise, account_id, "email\na@x.com\nb@x.com\nc@x.com\na@x.com\nd@x.com\nb@x.com\n")
    assert counts(report) == (6, 4, 0, 0, 2)
    assert [(e["line"], e["message"][-36:]) for e in report["errors"]] == [
        (5, "on line 2; only that row is imported"),
        (7, "on line 3; only that row is imported"),
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("name,base.city\nann@x.com,Kazan\n", "the header has no `email` column"),
        ("", "the file is empty; its first line must name the columns (email, …)"),
        ("email,first name\n", "column 2 ('first name'): a column is `email`, `lists` or a data path such as"),
        ("email,base.city,base.city\n", "column 3 ('base.city') repeats column 2"),
        ("email,Email\n", "column 2 ('Email') repeats column 1"),
        ("email,base,base.city\n", "columns 2 (base) and 3 (base.city) overlap"),
        ("email,a\x00b\n", "the header cannot be read: the line contains a NUL byte"),
    ],
)
def test_a_bad_header_rejects_the_whole_file(stepwise: Stepwise, account_id: int, content: str, message: str) -> None:
    with pytest.raises(ImportRejected) as caught:
        run(stepwise, account_id, content)
    report = caught.value.report
    assert report["errors"][0]["line"] == 1
    assert report["errors"][0]["message"].startswith(message)
    assert counts(report) == (0, 0, 0, 0, 0)
    stored = get_import(stepwise.db, account_id, report["id"])
    assert stored.status == "failed"
    assert stored.errors == report["errors"]
    assert subscriber_service.page(stepwise.db, account_id, status=None, list_key=None, cursor=None, limit=5)[0] == []


def test_a_utf16_file_is_rejected_with_a_hint(stepwise: Stepwise, account_id: int) -> None:
    with pytest.raises(ImportRejected) as caught:
        run(stepwise, account_id, "email\r\nann@x.com\r\n".encode("utf-16"))
    assert "UTF-16" in caught.value.report["errors"][0]["message"]


def test_an_unknown_list_option_is_refused_before_anything_happens(stepwise: Stepwise, account_id: int) -> None:
    with pytest.raises(Unprocessable):
        run(stepwise, account_id, "email\nann@x.com\n", list_key="nope")
    assert list_imports(stepwise.db, account_id) == []


def test_without_update_existing_subscribers_are_left_alone(stepwise: Stepwise, account_id: int) -> None:
    edit_one(
        stepwise.db,
        account_id,
        "ann@x.com",
        Edit(data={"base": {"name": "Ann"}}),
        source="api",
        now=stepwise.clock(),
        create=True,
    )
    report = run(
        stepwise,
        account_id,
        "email,base.name\nann@x.com,Changed\nbob@x.com,Bob\n",
        update_existing=False,
        list_key="vip",
    )
    assert counts(report) == (2, 1, 0, 1, 0)
    ann = sub(stepwise, account_id, "ann@x.com")
    assert (ann["data"], ann["lists"]) == ({"base": {"name": "Ann"}}, [])
    assert sub(stepwise, account_id, "bob@x.com")["lists"] == ["vip"]


def test_an_import_never_changes_status_and_empty_cells_keep_values(stepwise: Stepwise, account_id: int) -> None:
    edit_one(
        stepwise.db,
        account_id,
        "ann@x.com",
        Edit(data={"base": {"name": "Ann", "city": "Oslo"}}, status="unsubscribed"),
        source="api",
        now=stepwise.clock(),
        create=True,
    )
    report = run(stepwise, account_id, "email,base.name,base.city\nann@x.com,Anna,\n")
    assert counts(report) == (1, 0, 1, 0, 0)
    ann = sub(stepwise, account_id, "ann@x.com")
    assert (ann["status"], ann["data"]) == ("unsubscribed", {"base": {"name": "Anna", "city": "Oslo"}})


def test_without_trigger_events_an_import_queues_no_event_at_all(stepwise: Stepwise, account_id: int) -> None:
    edit_one(
        stepwise.db, account_id, "ann@x.com", Edit(data={"a": "1"}), source="api", now=stepwise.clock(), create=True
    )
    clear_inbox(stepwise, account_id)
    run(stepwise, account_id, "email,a,lists\nann@x.com,2,vip\nbob@x.com,1,news\n", list_key="news")
    assert queued_events(stepwise, account_id) == []


def test_with_trigger_events_an_import_queues_the_events_of_api_edits(stepwise: Stepwise, account_id: int) -> None:
    edit_one(
        stepwise.db,
        account_id,
        "ann@x.com",
        Edit(data={"a": "1", "b": "x"}, lists_add=["news"]),
        source="api",
        now=stepwise.clock(),
        create=True,
    )
    clear_inbox(stepwise, account_id)
    content = "email,a,b,lists\nann@x.com,2,x,news;vip\nbob@x.com,1,,news\n"
    report = run(stepwise, account_id, content, trigger_events=True)
    assert counts(report) == (2, 1, 1, 0, 0)
    assert queued_events(stepwise, account_id) == [
        ("ann@x.com", "data_changed", {"fields": ["a"], "data": {"a": "2", "b": "x"}}, "import"),
        ("ann@x.com", "list_joined", {"list": "vip"}, "import"),
        ("bob@x.com", "subscriber_added", {"confirmed": True}, "import"),
        ("bob@x.com", "list_joined", {"list": "news"}, "import"),
    ]


def test_running_the_same_file_again_changes_nothing_and_emits_nothing(stepwise: Stepwise, account_id: int) -> None:
    content = "email,base.name,lists\nann@x.com,Ann,vip\nbob@x.com,Bob,\nbad,,\nann@x.com,Again,\n"
    first = run(stepwise, account_id, content, trigger_events=True, list_key="news")
    assert counts(first) == (4, 2, 0, 0, 2)
    clear_inbox(stepwise, account_id)
    again = run(stepwise, account_id, content, trigger_events=True, list_key="news")
    assert counts(again) == (4, 0, 0, 2, 2)
    assert again["errors"] == first["errors"]
    assert queued_events(stepwise, account_id) == []


def test_the_import_record_follows_progress(
    stepwise: Stepwise, account_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports, "BATCH_ROWS", 3)
    seen: list[dict[str, Any]] = []
    content = "email\n" + "".join(f"u{i}@x.com\n" for i in range(7)) + "bad\n"
    report = imports.run_import(
        stepwise.db,
        account_id,
        io.BytesIO(content.encode()),
        ImportOptions(),
        stepwise.clock(),
        filename="people.csv",
        progress=seen.append,
    ).model_dump()
    assert [(p["rows"], p["status"]) for p in seen] == [(3, "running"), (6, "running"), (8, "done")]
    assert seen[-1]["bytes"] == len(content)
    stored = get_import(stepwise.db, account_id, report["id"])
    assert stored.status == "done"
    assert (stored.filename, stored.rows, stored.created, stored.failed) == ("people.csv", 8, 7, 1)
    assert stored.options == {"list": None, "update_existing": True, "trigger_events": False}
    assert stored.errors == report["errors"]
    assert [i.id for i in list_imports(stepwise.db, account_id)] == [report["id"]]


def test_lines_longer_than_the_limit_are_reported_and_skipped(
    stepwise: Stepwise, account_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csvreader, "CHUNK_BYTES", 16)
    monkeypatch.setattr(csvreader, "MAX_LINE_BYTES", 40)
    content = "email,a\nann@x.com," + "x" * 100 + "\nbob@x.com,b\n"
    report = run(stepwise, account_id, content)
    assert counts(report) == (2, 1, 0, 0, 1)
    assert report["errors"] == [{"line": 2, "message": "the line is longer than 40 bytes"}]


def test_a_record_larger_than_the_limit_is_reported_and_parsing_resumes(
    stepwise: Stepwise, account_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csvreader, "MAX_RECORD_CHARS", 60)
    content = 'email,a\nann@x.com,"open\n' + "".join(f"u{i}@x.com,v\n" for i in range(10))
    report = run(stepwise, account_id, content)
    assert counts(report) == (11, 10, 0, 0, 1)
    assert report["errors"][0]["line"] == 2


def test_ten_thousand_rows_start_runs_only_for_real_changes_with_trigger_events(
    stepwise: Stepwise, account_id: int
) -> None:
    now = stepwise.clock()
    sequences.put(stepwise.db, account_id, "added", one_step({"event": "subscriber_added"}), now)
    sequences.put(
        stepwise.db, account_id, "changed", one_step({"event": "data_changed", "fields": ["custom.plan"]}), now
    )
    rows = [(f"user{i}@example.com", f"Name{i}", "free") for i in range(10_000)]
    first = "email,base.firstName,custom.plan\n" + "".join(f"{e},{n},{p}\n" for e, n, p in rows)
    assert counts(run(stepwise, account_id, first)) == (10_000, 10_000, 0, 0, 0)
    advance(stepwise)
    assert entered(stepwise, account_id, "added") == set()
    assert entered(stepwise, account_id, "changed") == set()

    second = "email,base.firstName,custom.plan\n" + "".join(
        f"{e},{n},{'pro' if i % 10 == 3 else p}\n" for i, (e, n, p) in enumerate(rows)
    )
    assert counts(run(stepwise, account_id, second, trigger_events=True)) == (10_000, 0, 1_000, 9_000, 0)
    advance(stepwise)
    assert entered(stepwise, account_id, "changed") == {rows[i][0] for i in range(3, 10_000, 10)}
    assert entered(stepwise, account_id, "added") == set()


@given(st.text(alphabet=st.sampled_from("aZ0._+-@.é \t\x00!#'`~[]\"x"), max_size=30))
def test_the_fast_address_parser_agrees_with_parse_email(raw: str) -> None:
    try:
        expected = parse_email(raw)
    except InvalidEmail:
        with pytest.raises(InvalidEmail):
            address(raw)
        return
    assert address(raw) == expected


@given(
    st.lists(
        st.text(alphabet=st.sampled_from('ab,"\r\n\x00é'), max_size=12),
        min_size=1,
        max_size=12,
    ).map(lambda parts: "email\n" + "".join(parts)),
    st.integers(1, 9),
)
def test_records_do_not_depend_on_where_chunks_end(content: str, chunk: int) -> None:
    def records(size: int) -> list[Any]:
        original = csvreader.CHUNK_BYTES
        csvreader.CHUNK_BYTES = size
        try:
            return list(CsvReader(io.BytesIO(content.encode())))
        finally:
            csvreader.CHUNK_BYTES = original

    assert records(chunk) == records(1 << 20)


def test_a_large_import_refreshes_the_planners_statistics(
    stepwise: Stepwise, account_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL plans by statistics: after a bulk load they are refreshed, not left to autovacuum."""
    monkeypatch.setattr(imports, "BATCH_ROWS", 10)
    monkeypatch.setattr(imports, "ANALYZE_EVERY", 25)
    monkeypatch.setattr(imports, "ANALYZE_AT_END", 5)
    analyzed: list[list[str]] = []
    refresh = import_store.refresh_tables
    monkeypatch.setattr(import_store, "refresh_tables", lambda conn, tables: analyzed.append([t.name for t in tables]))

    rows = "".join(f"user{n}@x.com,news\n" for n in range(65))
    assert counts(run(stepwise, account_id, "email,lists\n" + rows)) == (65, 65, 0, 0, 0)
    assert counts(run(stepwise, account_id, "email,lists\n" + rows)) == (65, 0, 0, 65, 0)  # nothing new: no refresh
    expected = [] if stepwise.db.is_sqlite else [["subscribers", "list_members"]] * 3  # at 30, at 60, at the end
    assert analyzed[: len(expected)] == expected and len(analyzed) == len(expected)

    if not stepwise.db.is_sqlite:  # the statement itself runs, and the server records it
        with stepwise.db.write() as conn:
            refresh(conn, [schema.subscribers])
        with stepwise.db.read() as conn:
            [seen] = conn.exec_driver_sql(
                "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'subscribers'"
            ).fetchall()
        assert seen == (True,)
