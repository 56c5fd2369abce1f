"""The fuzzing tier's harness: the server recorder, the seed data, the summary.

The server is the real one (`tests.support.server.live_server`: uvicorn with the HTTP limits, the
app of `create_app`, the worker threads). The only addition is an outer ASGI wrapper that watches
every request: it counts statuses and, for each 5xx, keeps the request (method, path, query, the
first bytes of the body, Schemathesis' test case id) and the traceback of the exception behind it.
Errors logged by the server or the worker while the fuzzer runs are kept as well.
"""

from __future__ import annotations

import fcntl
import json
import logging
import threading
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tests.support.server import LiveServer
from tests.support.waiting import eventually

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SUMMARY_FILE = ARTIFACTS / "fuzz-summary.json"
API = "/api/v1"
CASE_HEADER = b"x-schemathesis-testcaseid"
BODY_KEPT = 2048

# Filled by the tests, printed at the end of the session.
SUMMARIES: list[dict[str, Any]] = []


@dataclass
class ServerError:
    method: str
    path: str
    query: str
    body: str
    status: int
    case_id: str | None
    traceback: str | None

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass
class Recorder:
    """Counts responses by status and keeps every 5xx with its request and traceback."""

    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[ServerError] = field(default_factory=list)
    log_errors: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wrap(self, app: ASGIApp) -> ASGIApp:
        async def recorded(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            body = bytearray()
            status: list[int] = []

            async def receive_kept() -> Message:
                message = await receive()
                if message["type"] == "http.request" and len(body) < BODY_KEPT:
                    body.extend(message.get("body", b"")[: BODY_KEPT - len(body)])
                return message

            async def send_seen(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status.append(int(message["status"]))
                await send(message)

            failure: str | None = None
            try:
                await app(scope, receive_kept, send_seen)
            except Exception:
                failure = traceback.format_exc()
                raise
            finally:
                code = status[0] if status else 500
                with self.lock:
                    self.statuses[code] += 1
                    if code >= 500:
                        headers = dict(scope.get("headers") or [])
                        case_id = headers.get(CASE_HEADER)
                        self.server_errors.append(
                            ServerError(
                                method=scope.get("method", ""),
                                path=scope.get("path", ""),
                                query=scope.get("query_string", b"").decode("latin-1"),
                                body=bytes(body).decode("utf-8", "backslashreplace"),
                                status=code,
                                case_id=case_id.decode("latin-1") if case_id else None,
                                traceback=failure,
                            )
                        )

        return recorded

    def requests(self) -> int:
        return sum(self.statuses.values())


class LogKeeper(logging.Handler):
    """Keeps ERROR records of the server and the worker (uvicorn, stepwise.*) while the fuzzer runs."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__(logging.ERROR)
        self.recorder = recorder

    def emit(self, record: logging.LogRecord) -> None:
        text = record.exc_text or (
            "".join(traceback.format_exception(*record.exc_info)) if record.exc_info and record.exc_info[0] else ""
        )
        with self.recorder.lock:
            self.recorder.log_errors.append(
                {"logger": record.name, "message": record.getMessage()[:500], "traceback": last_lines(text)}
            )


def last_lines(text: str | None, count: int = 8) -> str:
    return "\n".join((text or "").strip().splitlines()[-count:])


@dataclass
class FuzzTarget:
    server: LiveServer
    key: str
    dialect: str
    recorder: Recorder
    context: dict[str, Any]

    @property
    def openapi_url(self) -> str:
        return f"{self.server.base_url}{API}/openapi.json"


# What the fuzzer finds in the database: a list, a draft, a form, two sequences (one starts the
# other, so deleting the started one is refused with 409), subscribers with runs, an event, an
# import and an email (issue) the worker has sent through the capture transport.
LIST_BODY = {"name": "Welcome"}
DRAFT_BODY = {
    "subject": "Welcome, {{ data.base.firstName }}!",
    "html": '<p>Hi [% anketa.base.firstName %], <a href="https://example.com/start">start here</a>.</p>',
    "text": "Hi {{ data.base.firstName }}",
    "from_email": "news@example.com",
    "from_name": "Example",
}
WELCOME = {
    "name": "Welcome series",
    "status": "active",
    "steps": [
        {"variants": [{"when": [{"event": "subscriber_added"}], "do": [{"action": "send_email", "draft": "welcome"}]}]},
        {
            "variants": [
                {"when": [{"event": "custom", "name": "purchase"}], "do": [{"action": "add_to_list", "list": "news"}]},
                {"when": [{"event": "time_passed", "after": "3d"}], "do": [{"action": "nothing"}]},
            ]
        },
    ],
}
FOLLOWUP = {
    "name": "Follow-up",
    "status": "active",
    "steps": [
        {
            "variants": [
                {
                    "when": [{"event": "list_joined", "list": "news"}],
                    "do": [{"action": "start_sequence", "sequence": "welcome"}],
                }
            ]
        }
    ],
}
FORM_BODY = {"title": "Our newsletter", "fields": ["base.firstName"], "lists": ["welcome"]}
SEGMENT_BODY = {"name": "On welcome", "where": {"field": "subscriber.lists", "op": "contains", "value": "welcome"}}
SUBSCRIBERS = [
    {"email": "anna@example.com", "data": {"base": {"firstName": "Anna"}, "shop": {"orders": 3}}, "lists": ["welcome"]},
    {"email": "ben@example.com", "data": {"base": {"firstName": "Ben"}}, "lists": ["welcome", "news"]},
]
CSV = "email,base.firstName\ncara@example.com,Cara\ndan@example.com,Dan\n"


def seed(client: httpx.Client) -> dict[str, Any]:
    """Create the objects through the API; return the path values and how to restore each object."""
    restore: dict[str, list[list[Any]]] = {}

    def put(path: str, body: Any = None) -> httpx.Response:
        response = client.put(path, json=body) if body is not None else client.put(path)
        assert response.status_code < 300, f"seeding PUT {path}: {response.status_code} {response.text}"
        restore.setdefault(API + path, []).append(["PUT", API + path, body])
        return response

    for key in ("welcome", "news"):
        put(f"/lists/{key}", LIST_BODY)
    put("/drafts/welcome", DRAFT_BODY)
    put("/sequences/welcome", WELCOME)
    put("/sequences/followup", FOLLOWUP)
    put("/forms/welcome", FORM_BODY)
    put("/segments/welcome", SEGMENT_BODY)  # SPEC §15: fuzzed requests reach a real segment too
    for body in SUBSCRIBERS:
        response = client.post("/subscribers", json=body)
        assert response.status_code < 300, response.text
        restore[f"{API}/subscribers/{body['email']}"] = [["POST", f"{API}/subscribers", body]]
        for key in body["lists"]:
            put(f"/lists/{key}/members/{body['email']}")
            # A deleted list comes back with its members.
            restore[f"{API}/lists/{key}"].append(["PUT", f"{API}/lists/{key}/members/{body['email']}", None])
    response = client.post(
        "/events", json={"type": "custom", "name": "purchase", "email": "anna@example.com", "id": "order-1"}
    )
    assert response.status_code == 202, response.text
    response = client.post("/imports", files={"file": ("people.csv", CSV, "text/csv")}, data={"list": "news"})
    assert response.status_code == 201, response.text
    import_id = response.json()["id"]

    def issue_ids() -> list[str]:
        return [item["id"] for item in client.get("/issues", params={"email": "anna@example.com"}).json()["items"]]

    issues = eventually(issue_ids, timeout=20)
    return {
        "path_values": {
            "key": ["welcome", "news", "followup"],
            "email": [body["email"] for body in SUBSCRIBERS],
            "issue_id": issues[:2],
            "import_id": [import_id],
        },
        "restore": restore,
    }


def record_summary(summary: dict[str, Any]) -> None:
    """Merge one database's summary into test-artifacts/fuzz-summary.json and keep it for the report."""
    SUMMARIES.append(summary)
    ARTIFACTS.mkdir(exist_ok=True)
    # Under pytest-xdist both databases may finish at once: merge under a lock.
    with (ARTIFACTS / ".fuzz-summary.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            merged = json.loads(SUMMARY_FILE.read_text())
        except (OSError, ValueError):
            merged = {}
        merged[summary["database"]] = summary
        SUMMARY_FILE.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")
