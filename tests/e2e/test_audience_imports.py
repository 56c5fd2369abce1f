"""CSV import over HTTP (SPEC §5, §8): multipart upload, options, progress records and bad input."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stepwise.domain.emails import InvalidEmail, parse_email
from tests.e2e.conftest import Api


def upload(api: Api, content: bytes, **fields: str) -> httpx.Response:
    return api.client.post("/imports", files={"file": ("people.csv", content, "text/csv")}, data=fields)


def test_an_upload_returns_the_report_and_the_import_can_be_read_back(api: Api) -> None:
    api.client.put("/lists/news", json={"name": "News"}).raise_for_status()
    content = b"email,base.firstName\r\nann@x.com,Ann\r\nbad,Nobody\r\n"
    reply = upload(api, content, list="news", update_existing="true", trigger_events="false")
    assert reply.status_code == 201, reply.text
    report = reply.json()
    assert {k: report[k] for k in ("rows", "created", "updated", "unchanged", "failed")} == {
        "rows": 2,
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "failed": 1,
    }
    assert report["errors"][0]["line"] == 3
    assert reply.headers["location"] == f"/api/v1/imports/{report['id']}"
    stored = api.client.get(f"/imports/{report['id']}").json()
    assert (stored["status"], stored["filename"], stored["rows"]) == ("done", "people.csv", 2)
    assert stored["options"] == {"list": "news", "update_existing": True, "trigger_events": False}
    assert [item["id"] for item in api.client.get("/imports").json()["items"]] == [report["id"]]
    assert api.client.get("/subscribers/ann@x.com").json()["lists"] == ["news"]


def test_an_unusable_file_gets_422_with_the_report(api: Api) -> None:
    reply = upload(api, b"name\nann\n")
    assert reply.status_code == 422
    error = reply.json()["error"]
    assert error["code"] == "invalid_csv"
    assert error["details"]["errors"] == [{"line": 1, "message": "the header has no `email` column"}]
    assert api.client.get(f"/imports/{error['details']['id']}").json()["status"] == "failed"


BAD_REQUESTS: list[tuple[dict[str, Any], int, str | None]] = [
    ({"content": b"email\n", "headers": {"content-type": "text/csv"}}, 400, None),
    ({"files": {"other": ("x.csv", b"email\n")}}, 422, "$.other"),
    ({"files": {"list": (None, "news")}}, 422, "$.file"),
    ({"data": {"list": "news"}}, 400, None),
    ({"files": {"file": ("x.csv", b"email\n")}, "data": {"trigger_events": "maybe"}}, 422, "$.trigger_events"),
    ({"files": {"file": ("x.csv", b"email\n")}, "data": {"list": "No Such"}}, 422, "$.list"),
    ({"files": {"file": ("x.csv", b"email\n")}, "data": {"list": "nosuch"}}, 422, "$.list"),
    ({"content": b"--x\r\nbroken", "headers": {"content-type": "multipart/form-data; boundary=x"}}, 422, "$.file"),
    (
        {
            "content": b'--x\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nemail\na@x.com\n',
            "headers": {"content-type": "multipart/form-data; boundary=x"},
        },
        422,
        "$.file",
    ),
]


def test_bad_requests_get_clear_4xx(api: Api) -> None:
    for kwargs, status, path in BAD_REQUESTS:
        reply = api.client.post("/imports", **kwargs)
        assert reply.status_code == status, (kwargs, reply.text)
        if path is not None:
            assert [p["path"] for p in reply.json()["error"]["details"]] == [path]


def test_an_upload_over_the_limit_gets_413_even_without_a_length(api: Api) -> None:
    limit = api.server.stepwise.settings.max_upload_bytes
    api.server.stepwise.settings.max_upload_bytes = 4096
    try:

        def body() -> Any:
            yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.csv"\r\n\r\nemail\n'
            for _ in range(100):
                yield b"a@x.com\n" * 16
            yield b"\r\n--b--\r\n"

        reply = api.client.post("/imports", content=body(), headers={"content-type": "multipart/form-data; boundary=b"})
    finally:
        api.server.stepwise.settings.max_upload_bytes = limit
    assert reply.status_code == 413
    assert reply.json()["error"]["code"] == "too_large"


# --- Generated files: never a 5xx, and the report says exactly what happened to each row ---------

LOCALS = ["ann", "Bob", "c.d", "e+f", "=sum", "+plus", "-minus", "@at", "not-an-address", "a b", ""]
TEXT = st.text(alphabet=st.sampled_from(list('abcé,;"\r\n =+-@\x00\t')) | st.characters(), max_size=12)
VALUES = st.one_of(TEXT, TEXT, TEXT, st.integers(70_000, 140_000).map(lambda n: "x" * n))
ROW = st.tuples(st.sampled_from(LOCALS), VALUES, st.sampled_from(["utf-8", "latin-1"]), st.booleans())
_files = itertools.count()


def quoted(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def build(rows: list[tuple[str, str, str, bool]], domain: str, crlf: bool) -> tuple[bytes, list[dict[str, Any]]]:
    """Serialise rows (some broken: an unclosed quote) and describe what each should come to."""
    end = "\r\n" if crlf else "\n"
    content = ("email,base.name" + end).encode()
    line = 2
    opened = False
    expected = []
    for local, raw_value, encoding, broken in rows:
        # A broken row stays on one line, so the lines after it are rows of their own.
        value = raw_value.replace("\r", " ").replace("\n", " ") if broken else raw_value
        value = value.encode(encoding, errors="replace").decode(encoding)  # what the file can hold
        address = f"{local}@{domain}" if local not in ("", "not-an-address") else local
        if opened and not address:
            # After an unclosed quote, a line starting `""` (an escaped quote) could close it legitimately:
            # real CSV, but not the stray-quote case under test. A non-empty first field keeps it a stray.
            address = "not-an-address"
        opened = opened or broken
        text = quoted(address) + "," + ('"' + value.replace('"', '""') if broken else quoted(value) if value else "")
        raw = (text + end).encode(encoding)
        try:
            read = value.encode(encoding).decode("utf-8")  # what a UTF-8 reader sees
        except UnicodeDecodeError:
            read = None
        expected.append({"line": line, "address": address, "value": read, "raw": raw, "broken": broken})
        content += raw
        line += len(raw.splitlines())
    return content, expected


def outcome(rows: list[dict[str, Any]]) -> tuple[dict[str, int], list[int], dict[str, Any]]:
    """The report a correct import gives, and the data of each imported address."""
    counts = dict.fromkeys(("rows", "created", "updated", "unchanged", "failed"), 0)
    failed_lines: list[int] = []
    data: dict[str, Any] = {}
    for row in rows:
        value = row["value"]
        unreadable = row["broken"] or value is None or "\x00" in value
        if not unreadable and not row["address"].strip() and not (value or "").strip():
            continue  # a row of empty cells is no row
        counts["rows"] += 1
        try:
            key = parse_email(row["address"]).key
        except InvalidEmail:
            key = None
        too_big = len((value or "").strip()) > 65_000
        if unreadable or key is None or key in data or too_big:
            counts["failed"] += 1
            failed_lines.append(row["line"])
            continue
        counts["created"] += 1
        data[key] = {"base": {"name": value.strip()}} if value.strip() else {}
    return counts, failed_lines, data


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(ROW, max_size=8), bom=st.booleans(), crlf=st.booleans())
def test_generated_files_are_reported_row_by_row(
    api: Api, rows: list[tuple[str, str, str, bool]], bom: bool, crlf: bool
) -> None:
    domain = f"f{next(_files)}.example"
    content, described = build(rows, domain, crlf)
    reply = upload(api, (b"\xef\xbb\xbf" if bom else b"") + content)
    assert reply.status_code == 201, reply.text
    report = reply.json()
    counts, failed_lines, data = outcome(described)
    assert {k: report[k] for k in counts} == counts
    assert [e["line"] for e in report["errors"]] == failed_lines
    for key, profile in data.items():
        assert api.client.get(f"/subscribers/{key}").json()["data"] == profile


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=300) | st.text(max_size=200).map(lambda t: ("email," + t).encode("utf-16")))
def test_arbitrary_bytes_never_cause_a_server_error(api: Api, content: bytes) -> None:
    reply = upload(api, content)
    assert reply.status_code in (201, 422), reply.text
    body = reply.json()
    report = body if reply.status_code == 201 else body["error"]["details"]
    assert report["rows"] == report["created"] + report["updated"] + report["unchanged"] + report["failed"]
