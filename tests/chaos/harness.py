"""Real pieces for the chaos tier: an SMTP sink process, `stepwise worker` processes, database probes."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from tests.support.process import STEPWISE, terminate
from tests.support.server import free_port

REPO = Path(__file__).resolve().parents[2]
SECRET = "test-secret"  # what tests.support.process.env_for gives the processes


@dataclass(frozen=True, slots=True)
class Receipt:
    """One message the sink accepted: when, which Message-ID, from which worker (its EHLO name), to whom."""

    at: float
    message_id: str
    sender: str
    recipient: str


@dataclass
class Sink:
    """An aiosmtpd sink in a child process (see tests/chaos/sink.py)."""

    port: int
    log: Path
    release_file: Path

    def url(self, helo: str) -> str:
        """Return the SMTP URL for one worker (its EHLO name tells the sink who sent each message)."""
        return f"smtp://127.0.0.1:{self.port}?helo={helo}"

    def receipts(self) -> list[Receipt]:
        """Return every message accepted so far, oldest first."""
        found = []
        for line in self.log.read_text(encoding="utf-8").splitlines():
            parts = line.split("\t")
            if len(parts) == 4:  # a line being written right now is incomplete; it is read next time
                found.append(Receipt(float(parts[0]), parts[1], parts[2], parts[3]))
        return found

    def release(self) -> None:
        """Let held messages through."""
        self.release_file.touch()


@contextmanager
def smtp_sink(directory: Path, *, hold_prefix: str | None = None) -> Iterator[Sink]:
    """Run the sink until the block ends; yield it once it accepts connections."""
    directory.mkdir(parents=True, exist_ok=True)
    sink = Sink(free_port(), directory / "sink.log", directory / "release.flag")
    sink.log.touch()
    command = [sys.executable, "-m", "tests.chaos.sink", "--port", str(sink.port), "--log", str(sink.log)]
    if hold_prefix:
        command += ["--hold-prefix", hold_prefix, "--release", str(sink.release_file)]
    with (directory / "sink.out").open("w") as out:
        process = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(sink.port, process, "the SMTP sink")
        yield sink
    finally:
        terminate(process, grace=10)


def wait_for_port(port: int, process: subprocess.Popen[Any], what: str, timeout: float = 30) -> None:
    """Wait until something listens on a loopback port; fail early if the process died."""
    import socket

    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"{what} exited with {process.returncode}") from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not listen on port {port} within {timeout}s") from None
            time.sleep(0.05)


@contextmanager
def api_server(env: dict[str, str], logs: Path) -> Iterator[str]:
    """Run `stepwise serve --no-worker` (output to a file, which never fills up); yield its base URL."""
    port = free_port()
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / "api.log").open("wb") as out:
        process = subprocess.Popen(
            [STEPWISE, "serve", "--no-worker", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            wait_for_port(port, process, "stepwise serve", timeout=120)
            yield f"http://127.0.0.1:{port}"
        finally:
            terminate(process)


@dataclass
class Kill:
    """A worker killed with SIGKILL, and when."""

    worker: str
    at: float


@dataclass
class Fleet:
    """`stepwise worker` processes on one database; each sends mail with its own EHLO name."""

    env: dict[str, str]
    sink: Sink | None
    logs: Path
    live: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    kills: list[Kill] = field(default_factory=list)
    started: int = 0
    _files: list[IO[bytes]] = field(default_factory=list)

    def start(self, count: int = 1) -> list[str]:
        """Start `count` more workers; return their names."""
        names = []
        for _ in range(count):
            self.started += 1
            name = f"w{self.started}"
            env = dict(self.env)
            if self.sink is not None:
                env["STEPWISE_SMTP_URL"] = self.sink.url(name)
            self.logs.mkdir(parents=True, exist_ok=True)
            out = (self.logs / f"{name}.log").open("wb")
            self._files.append(out)
            self.live[name] = subprocess.Popen([STEPWISE, "worker"], env=env, stdout=out, stderr=subprocess.STDOUT)
            names.append(name)
        return names

    def kill(self, name: str) -> Kill:
        """SIGKILL a live worker (no chance to finish anything) and record when."""
        process = self.live.pop(name)
        process.send_signal(signal.SIGKILL)
        kill = Kill(name, time.time())
        process.wait(10)
        self.kills.append(kill)
        return kill

    def killed(self) -> dict[str, float]:
        """Map each killed worker to when it was killed."""
        return {k.worker: k.at for k in self.kills}

    def exited(self) -> list[str]:
        """List live workers that have exited on their own (a crash the test did not cause)."""
        return [name for name, process in self.live.items() if process.poll() is not None]

    def ready(self, name: str) -> bool:
        """Tell whether a worker has started its loops (and so handles SIGTERM by draining)."""
        return "worker running" in self.output(name)

    def stop_all(self, timeout: float = 60) -> dict[str, int | None]:
        """SIGTERM every live worker once it is up (graceful drain) and wait; return the exit codes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(
            self.ready(n) or p.poll() is not None for n, p in self.live.items()
        ):
            time.sleep(0.05)  # a SIGTERM before the handler is installed would end a booting worker abruptly
        for process in self.live.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        for name, process in self.live.items():
            try:
                codes[name] = process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
                codes[name] = None
        self.live.clear()
        for out in self._files:
            out.close()
        self._files.clear()
        return codes

    def output(self, name: str) -> str:
        """Return what a worker printed (its log file)."""
        path = self.logs / f"{name}.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def tails(self, lines: int = 15) -> str:
        """Return the end of every worker's output, for failure messages."""
        parts = []
        for path in sorted(self.logs.glob("w*.log")):
            tail = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path.stem}\n" + "\n".join(tail))
        return "\n".join(parts)


class Probe:
    """Read-only looks at a Stepwise database from the test (a fresh connection each time)."""

    def __init__(self, database_url: str) -> None:
        self.engine: Engine = create_engine(
            database_url.replace("postgresql://", "postgresql+psycopg://", 1),
            poolclass=NullPool,
            connect_args={"connect_timeout": 5},
        )

    def value(self, sql: str, **params: Any) -> int:
        """Return one integer from a query."""
        with self.engine.connect() as conn:
            return int(conn.execute(text(sql), params).scalar_one() or 0)

    def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        """Return every row of a query."""
        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql), params)]

    def execute(self, sql: str, **params: Any) -> int:
        """Run a write in its own transaction; return the rows it touched."""
        with self.engine.begin() as conn:
            return int(conn.execute(text(sql), params).rowcount)

    def progress(self) -> int:
        """Return committed progress: sent issues plus completed runs (grows with deliveries and transitions)."""
        return self.value(
            "SELECT (SELECT count(*) FROM issues WHERE status = 'sent')"
            " + (SELECT count(*) FROM runs WHERE status = 'completed')"
        )

    def try_progress(self) -> int | None:
        """Return progress, or None while the database does not answer."""
        try:
            return self.progress()
        except Exception:
            return None

    def dispose(self) -> None:
        """Close the engine."""
        self.engine.dispose()


class Shop:
    """The test's own hand on the database, through the services: setup, imports, statistics.

    Setting up in-process spares the two cores the start-up of a CLI process per step; the
    processes under test are the workers (and the API server).
    """

    def __init__(self, database_url: str, account: str, definitions: dict[str, Any], workdir: Path) -> None:
        from stepwise.bootstrap import build
        from stepwise.cli.applying import apply_bundle
        from stepwise.cli.definitions import load
        from stepwise.config import Settings
        from stepwise.services.accounts import create_account

        self.app = build(Settings(database_url=database_url, secret_key=SECRET))
        row, self.api_key = create_account(self.app.db, account, "UTC", self.app.clock())
        self.account_id = row.id
        path = workdir / "definitions.json"
        path.write_text(json.dumps(definitions), encoding="utf-8")
        bundle = load([path])
        assert not bundle.problems, bundle.problems
        apply_bundle(self.app, self.account_id, bundle)

    def import_subscribers(self, emails: list[str], names: dict[str, str] | None = None) -> None:
        """Create subscribers as a CSV import with trigger events on (each gets subscriber_added)."""
        from stepwise.services.imports import ImportOptions, run_import

        names = names or {}
        csv = "email,base.firstName\n" + "".join(f"{e},{names.get(e, 'Reader')}\n" for e in emails)
        options = ImportOptions(list_key=None, update_existing=True, trigger_events=True)
        report = run_import(self.app.db, self.account_id, io.BytesIO(csv.encode()), options, self.app.clock())
        assert report.created == len(emails), report

    def stats(self, sequence: str) -> dict[str, Any]:
        """Return the SPEC §7 statistics of a sequence."""
        from stepwise.services import sequences as sequence_service

        return sequence_service.stats(self.app.db, self.account_id, sequence).model_dump()

    def close(self) -> None:
        """Close the database pool."""
        self.app.close()


@dataclass
class Audit:
    """What the database and the SMTP sink say after a run: the figures every chaos test checks."""

    issues: dict[str, int]  # issue rows by status
    duplicate_issue_rows: int  # issue rows beyond one per (subscriber, sequence, pass, step, variant)
    runs: dict[str, int]  # runs by status
    email_timeline: dict[str, int]  # email_* timeline entries by kind
    outbox: int
    inbox: int
    expected: set[str]  # Message-IDs of the issues
    copies: dict[str, list[Receipt]]  # Message-ID -> every copy the sink accepted, oldest first

    @property
    def received(self) -> int:
        """Count every copy the sink accepted."""
        return sum(len(c) for c in self.copies.values())

    @property
    def lost(self) -> list[str]:
        """List expected Message-IDs the sink never accepted."""
        return sorted(self.expected - self.copies.keys())

    @property
    def unexpected(self) -> list[str]:
        """List Message-IDs the sink accepted that no issue has."""
        return sorted(self.copies.keys() - self.expected)

    @property
    def duplicates(self) -> int:
        """Count copies beyond the first, over all messages."""
        return sum(len(c) - 1 for c in self.copies.values())

    def duplicated(self) -> dict[str, list[Receipt]]:
        """Return the messages that arrived more than once."""
        return {mid: c for mid, c in self.copies.items() if len(c) > 1}


def audit(probe: Probe, sink: Sink) -> Audit:
    """Read the issues, runs, timeline and queues, and the sink's log."""
    copies: dict[str, list[Receipt]] = {}
    for receipt in sink.receipts():
        copies.setdefault(receipt.message_id, []).append(receipt)
    return Audit(
        issues=dict(probe.rows("SELECT status, count(*) FROM issues GROUP BY status")),
        duplicate_issue_rows=probe.value(
            "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM issues"
            " GROUP BY subscriber_id, sequence, pass_no, step, variant) AS per_step"
        ),
        runs=dict(probe.rows("SELECT status, count(*) FROM runs GROUP BY status")),
        email_timeline=dict(probe.rows("SELECT kind, count(*) FROM timeline WHERE kind LIKE 'email_%' GROUP BY kind")),
        outbox=probe.value("SELECT count(*) FROM outbox"),
        inbox=probe.value("SELECT count(*) FROM inbox"),
        expected={row[0] for row in probe.rows("SELECT message_id FROM issues WHERE message_id IS NOT NULL")},
        copies=copies,
    )


def onboarding(wait: str = "1s", *, welcome: bool = True) -> dict[str, Any]:
    """Define a sequence: on subscriber_added mark the profile (and send a welcome), `wait` later a follow-up."""
    sender = "news@example.com"
    first = [{"action": "change_data", "set": {"custom.stage": "started"}}]
    if welcome:
        first.append({"action": "send_email", "draft": "welcome"})
    return {
        "drafts": {
            "welcome": {
                "subject": "Welcome, {{ data.base.firstName }}",
                "html": '<p>Hello {{ data.base.firstName }}!</p><p><a href="https://example.com/start">Start</a></p>',
                "from_email": sender,
            },
            "followup": {
                "subject": "Still with us, {{ data.base.firstName }}?",
                "html": '<p>Here is more.</p><p><a href="https://example.com/more">More</a></p>',
                "from_email": sender,
            },
        },
        "sequences": {
            "onboarding": {
                "name": "Onboarding",
                "status": "active",
                "steps": [
                    {"variants": [{"when": [{"event": "subscriber_added"}], "do": first}]},
                    {
                        "variants": [
                            {
                                "when": [{"event": "time_passed", "after": wait}],
                                "do": [{"action": "send_email", "draft": "followup"}],
                            }
                        ]
                    },
                ],
            }
        },
    }


def assert_everyone_completed(stats: dict[str, Any], subscribers: int, figures: str) -> None:
    """The two-step chaos sequence's statistics once every subscriber went through it (SPEC §7)."""
    fired = [variant["fired"] for step in stats["steps"] for variant in step["variants"]]
    assert (stats["entered"], stats["completed"], stats["on_steps"], fired) == (
        subscribers,
        subscribers,
        0,
        [subscribers, subscribers],
    ), f"{figures}\nstats: {stats}"
