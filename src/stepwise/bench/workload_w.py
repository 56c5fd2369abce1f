"""Workload W (the side-by-side comparison with task queues) through Stepwise's public interfaces.

N subscribers (imported first, not timed) each get email A on a custom `go` event and email B 2 s
later, through `stepwise serve` (SQLite) or `serve --no-worker` plus K `stepwise worker` processes
(PostgreSQL), delivering over SMTP to a recording sink in its own process. Four warm-up subscribers go
through the whole flow before the clock starts. The `go` events are posted in batches of 1,000, each
after the previous one was accepted (202). The figures are those of the published table: emails/s
(distinct subscriber × A/B pairs over the time from the first accepted event to the last email),
events accepted/s, A and B latency (from the event's acceptance to the sink's) p50/p99, subscribers
whose B came before A, duplicates, missing, and the peak summed RSS of the Stepwise processes; and where
the CPU time of the timed part went (Stepwise's processes, the sink, the driver, PostgreSQL's backends).
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import make_url

from stepwise.bench.child_server import child_server, free_port
from stepwise.bench.figures import percentile
from stepwise.bench.process_tree import CpuMeter, CpuSplit, RssSampler, pids_with, tree_pids
from stepwise.bench.scratch import scratch_database

NAMES = ["Anna", "Boris", "Chloe", "Dmitri", "Elena", "Farid", "Greta", "Hugo", "Irina", "Jamal"]
DRAFTS = {
    "a": {
        "subject": "[A] Welcome, {{ data.base.firstName }}!",
        "html": "<p>Hello {{ data.base.firstName }}, thanks for joining.</p>",
        "text": "Hello {{ data.base.firstName }}, thanks for joining.",
    },
    "b": {
        "subject": "[B] Part two for you, {{ data.base.firstName }}",
        "html": "<p>{{ data.base.firstName }}, here is part two.</p>",
        "text": "{{ data.base.firstName }}, here is part two.",
    },
}


def _send(draft: str) -> dict[str, str]:
    return {"action": "send_email", "draft": draft}


SEQUENCE = {
    "name": "Workload W",
    "status": "active",
    "steps": [
        {"variants": [{"when": [{"event": "custom", "name": "go"}], "do": [_send("a")]}]},
        {"variants": [{"when": [{"event": "time_passed", "after": "2s"}], "do": [_send("b")]}]},
    ],
}
WARM = [f"warm{i}@example.com" for i in range(4)]
BATCH = 1000
IDLE_END_S = 60.0  # the run ends when no email arrived for this long


def run_w(database_url: str | None, subscribers: int, workers: int, timeout_s: float = 900.0) -> dict[str, Any]:
    """Run workload W on a scratch database and return its figures (see the module's docstring)."""
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="stepwise-w-")))
        url = stack.enter_context(scratch_database(database_url))
        sink_file = folder / "sink.tsv"
        sink_port, sink_pid = stack.enter_context(_sink(sink_file))
        key = _account(url)
        port = free_port()
        env = {
            **os.environ,
            "STEPWISE_DATABASE_URL": url,
            "STEPWISE_SMTP_URL": f"smtp://127.0.0.1:{sink_port}",
            "STEPWISE_BASE_URL": f"http://127.0.0.1:{port}",
            "STEPWISE_SEND_RATE": "100000",
        }
        pids = stack.enter_context(_stepwise(env, port, workers, folder))
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=600) as api:
            api.headers["Authorization"] = f"Bearer {key}"
            _setup(api, subscribers)
            follow = _Follower(sink_file)
            _post_events(api, WARM)
            follow.wait_for(2 * len(WARM), 120)
            emails = [f"u{i}@example.com" for i in range(subscribers)]
            split = _cpu_split(pids, sink_pid, url)
            with RssSampler(pids) as rss, CpuMeter() as cpu:
                with split:
                    accepted_at, accepted_per_s = _submit(api, emails)
                    follow.wait_for(2 * len(WARM) + 2 * subscribers, timeout_s, idle_s=IDLE_END_S)
                time.sleep(1.0)  # late duplicates
        figures = _figures(follow.records(), accepted_at, accepted_per_s)
        return {
            **figures,
            "worker_rss_peak_mb": rss.peak_mb,
            **cpu.figures(),
            "cpu_s": split.used,
            "stepwise_cpu_ms_per_email": round(1000 * split.used["stepwise"] / (2 * subscribers), 3),
            "n": subscribers,
            "config": _config(database_url, workers),
        }


def _cpu_split(stepwise_pids: list[int], sink_pid: int, url: str) -> CpuSplit:
    """Where the CPU time of the timed part goes: Stepwise's processes, the sink, this driver, the database
    server's backends for the scratch database (PostgreSQL; SQLite runs inside Stepwise's processes)."""
    groups: dict[str, Callable[[], Iterable[int]]] = {
        "stepwise": lambda: tree_pids(stepwise_pids),
        "sink": lambda: [sink_pid],
        "driver": lambda: [os.getpid()],
    }
    if url.startswith("postgresql"):
        name = make_url(url).database or ""
        groups["database"] = lambda: pids_with(f" {name} ")
    return CpuSplit(groups)


def _config(database_url: str | None, workers: int) -> str:
    if database_url and database_url.startswith("postgres"):
        return f"PostgreSQL, serve --no-worker + {workers} worker(s)"
    return "SQLite, serve (embedded worker)"


@contextmanager
def _sink(path: Path) -> Iterator[tuple[int, int]]:
    import importlib.util

    port = free_port()
    command = [sys.executable, "-m", "stepwise.bench.recording_sink", str(port), str(path)]
    if importlib.util.find_spec("aiosmtpd"):
        command.append("--aiosmtpd")  # the sink of the published table
    with child_server(command, port, "recording SMTP sink") as pid:
        yield port, pid


def _account(url: str) -> str:
    """Migrate the scratch database and create the account; return its API key."""
    from stepwise.bench.scenario import settings_for
    from stepwise.bootstrap import build
    from stepwise.services.accounts import create_account

    stepwise = build(settings_for(url, 500), migrate=True)
    try:
        return create_account(stepwise.db, "w", "UTC", datetime.now(UTC))[1]
    finally:
        stepwise.close()


def _command() -> list[str]:
    beside = Path(sys.executable).with_name("stepwise")
    return [str(beside)] if beside.exists() else [sys.executable, "-c", "from stepwise.cli.main import main; main()"]


@contextmanager
def _stepwise(env: dict[str, str], port: int, workers: int, folder: Path) -> Iterator[list[int]]:
    """`serve` (and K workers on PostgreSQL); yield their pids once /healthz answers."""
    base = _command()
    serve = [*base, "serve", "--host", "127.0.0.1", "--port", str(port)] + (["--no-worker"] if workers else [])
    commands = [serve] + [[*base, "worker"]] * workers
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for n, command in enumerate(commands):
            log = open(folder / f"stepwise{n}.log", "wb")  # noqa: SIM115 (closed with the process)
            processes.append(subprocess.Popen(command, env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT))
        _wait_healthy(port, processes)
        yield [p.pid for p in processes]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_healthy(port: int, processes: list[subprocess.Popen[bytes]], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            raise RuntimeError("a stepwise process exited at start")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("stepwise serve did not answer /healthz")


def _setup(api: httpx.Client, subscribers: int) -> None:
    """The drafts, the active sequence and the subscribers (imported, no events)."""
    for key, draft in DRAFTS.items():
        _ok(api.put(f"/drafts/{key}", json={**draft, "from_email": "news@example.com", "from_name": "Bench"}))
    _ok(api.put("/sequences/w", json=SEQUENCE))
    rows = [(f"u{i}@example.com", NAMES[i % len(NAMES)]) for i in range(subscribers)]
    rows += [(email, NAMES[i]) for i, email in enumerate(WARM)]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([("email", "base.firstName"), *rows])
    report = _ok(
        api.post(
            "/imports",
            data={"trigger_events": "false", "update_existing": "true"},
            files={"file": ("subscribers.csv", buffer.getvalue().encode(), "text/csv")},
        )
    )
    if report.get("failed"):
        raise RuntimeError(f"the import failed rows: {report}")


def _ok(reply: httpx.Response) -> dict[str, Any]:
    if not reply.is_success:
        raise RuntimeError(f"{reply.request.method} {reply.request.url.path}: {reply.status_code} {reply.text[:300]}")
    body: dict[str, Any] = reply.json() if reply.content else {}
    return body


def _post_events(api: httpx.Client, emails: list[str]) -> None:
    events = [{"type": "custom", "name": "go", "email": e, "id": f"go-{e}"} for e in emails]
    for _ in range(600):  # a 429 or 503 is retried: the event ids make it safe
        reply = api.post("/events", json={"events": events})
        if reply.status_code not in (429, 503):
            _ok(reply)
            return
        time.sleep(0.1)
    raise RuntimeError("POST /events kept answering 429/503")


def _submit(api: httpx.Client, emails: list[str]) -> tuple[dict[str, float], float]:
    """Post the events in batches; return when each was accepted, and events accepted per second."""
    accepted: dict[str, float] = {}
    started = time.time()
    for at in range(0, len(emails), BATCH):
        batch = emails[at : at + BATCH]
        _post_events(api, batch)
        accepted.update(dict.fromkeys(batch, time.time()))
    took = time.time() - started
    return accepted, round(len(emails) / took, 1) if took else 0.0


class _Follower:
    """Reads the sink's records as they are flushed."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset = path, 0
        self.lines: list[str] = []

    def _read(self) -> int:
        if self.path.exists():
            with open(self.path, encoding="utf-8") as f:
                f.seek(self.offset)
                chunk = f.read()
            complete = chunk.rsplit("\n", 1)[0] if "\n" in chunk else ""
            if complete:
                self.lines.extend(complete.split("\n"))
                self.offset += len(complete.encode("utf-8")) + 1
        return len(self.lines)

    def wait_for(self, count: int, timeout_s: float, idle_s: float | None = None) -> None:
        deadline, seen, changed = time.monotonic() + timeout_s, -1, time.monotonic()
        while (now := self._read()) < count:
            if now != seen:
                seen, changed = now, time.monotonic()
            if time.monotonic() > deadline or (idle_s is not None and time.monotonic() - changed > idle_s):
                return
            time.sleep(0.05)

    def records(self) -> list[tuple[float, str, str]]:
        self._read()
        return [(float(t), tag, rcpt) for t, tag, rcpt in (line.split("\t") for line in self.lines if line)]


def _figures(
    records: list[tuple[float, str, str]], accepted: dict[str, float], accepted_per_s: float
) -> dict[str, Any]:
    """The table's figures from the sink's records and the events' acceptance times."""
    seen: dict[tuple[str, str], list[float]] = {}
    unexpected = 0
    for at, tag, rcpt in records:
        if rcpt in accepted and tag in ("A", "B"):
            seen.setdefault((rcpt, tag), []).append(at)
        elif not rcpt.startswith("warm"):
            unexpected += 1
    first_a = {rcpt: min(times) for (rcpt, tag), times in seen.items() if tag == "A"}
    first_b = {rcpt: min(times) for (rcpt, tag), times in seen.items() if tag == "B"}
    lat_a = [(first_a[r] - accepted[r]) * 1000 for r in first_a]
    lat_b = [(first_b[r] - accepted[r]) * 1000 for r in first_b]
    start = min(accepted.values()) if accepted else 0.0
    last = max((max(times) for times in seen.values()), default=start)
    wall = last - min(start, last)
    delivered = len(seen)
    return {
        "emails_per_s": round(delivered / wall, 1) if wall > 0 else None,
        "wall_s": round(wall, 2),
        "go_accepted_per_s": accepted_per_s,
        "lat_a_p50_ms": _rounded(percentile(lat_a, 0.5)),
        "lat_a_p99_ms": _rounded(percentile(lat_a, 0.99)),
        "lat_b_p50_ms": _rounded(percentile(lat_b, 0.5)),
        "lat_b_p99_ms": _rounded(percentile(lat_b, 0.99)),
        "b_before_a": sum(1 for r, b in first_b.items() if r in first_a and b < first_a[r]),
        "duplicates": sum(len(times) - 1 for times in seen.values()),
        "missing": 2 * len(accepted) - delivered,
        "unexpected": unexpected,
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
