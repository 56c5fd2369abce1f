"""Hostile drafts previewed over HTTP fail fast with their reason, while /healthz answers at once and
the server's memory stays flat (issue 10: a rendering budget that holds).

The server is the real `stepwise serve` in a child process, so that its resident memory is its own
(read from /proc/<pid>/status). Saving a hostile draft through the API is refused (422 with the
budget's reason); the drafts are then stored directly, like drafts saved before that check existed,
and previewed, several at a time, while another thread asks for /healthz every 20 ms. Previews render
in child processes of the server (`delivery/render_pool`): their memory is measured with the server's.
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from stepwise.bench.process_tree import tree_rss_mb
from stepwise.bootstrap import build
from stepwise.config import Settings
from stepwise.services.accounts import create_account
from stepwise.services.users import create_user
from stepwise.storage import drafts as draft_store
from stepwise.storage.codec import to_us
from stepwise.storage.drafts import DraftContent
from tests.e2e.conftest import PASSWORD
from tests.support.hostile_templates import HOSTILE
from tests.support.process import env_for, start_serve, stop
from tests.support.server import free_port

ROUNDS = 3  # every hostile draft is previewed this many times
PARALLEL = 6  # previews in flight at once (more than the server's preview threads)
MAX_HEALTHZ_SECONDS = 0.1  # for 95% of the answers at least; see the test
MAX_RSS_GROWTH_MB = 100
MAX_TREE_GROWTH_MB = 300  # the server and its preview processes (each bounded, and replaced now and then)


@dataclass
class Served:
    base_url: str
    pid: int
    key: str
    account_id: int
    database_url: str


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[Served]:
    env = env_for(database_url)
    port = free_port()
    process = start_serve(port, env, cwd=tmp_path)
    stepwise = build(Settings(database_url=database_url, secret_key="test-secret"), migrate=False)
    try:
        row, key = create_account(stepwise.db, "shop", "UTC", stepwise.clock())
        create_user(stepwise.db, row.id, "owner@shop.example", PASSWORD, "owner", stepwise.clock())
        yield Served(f"http://127.0.0.1:{port}", process.pid, key, row.id, database_url)
    finally:
        stepwise.close()
        stop(process)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def store_drafts(served: Served, drafts: dict[str, str]) -> None:
    stepwise = build(Settings(database_url=served.database_url, secret_key="test-secret"), migrate=False)
    try:
        with stepwise.db.write() as conn:
            for key, html in drafts.items():
                content = DraftContent(subject="Hi", html=html, from_email="news@shop.example")
                draft_store.put(conn, served.account_id, key, content, to_us(stepwise.clock()))
    finally:
        stepwise.close()


PROBE = """
import json, sys, threading, time
import httpx
url, pid = sys.argv[1], sys.argv[2]
done = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
samples = []
with httpx.Client(timeout=10) as client:
    while not done.is_set():
        started = time.perf_counter()
        status = client.get(url).status_code
        latency = time.perf_counter() - started
        rss = next(int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS:")) / 1024
        samples.append((status, latency, rss))
        done.wait(0.02)
print(json.dumps(samples))
"""


class HealthProbe:
    """Asks for /healthz every 20 ms and samples the server's memory, until stopped.

    It runs in a process of its own, so that the test's threads cannot delay its measurements.
    """

    def __init__(self, served: Served) -> None:
        self.served = served
        self.latencies: list[float] = []
        self.rss: list[float] = []
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> HealthProbe:
        self._process = subprocess.Popen(
            [sys.executable, "-c", PROBE, self.served.base_url + "/healthz", str(self.served.pid)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(0.5)  # started and probing
        return self

    def __exit__(self, *_: Any) -> None:
        assert self._process is not None
        output, _ = self._process.communicate("", timeout=30)
        samples = json.loads(output)
        assert all(status == 200 for status, _, _ in samples)
        self.latencies = [latency for _, latency, _ in samples]
        self.rss = [rss for _, _, rss in samples]


def test_hostile_previews_fail_fast_while_healthz_answers_and_memory_stays_flat(served: Served) -> None:
    api = httpx.Client(
        base_url=served.base_url + "/api/v1", headers={"Authorization": f"Bearer {served.key}"}, timeout=60
    )
    data = {"base": {"firstName": "Anna"}}
    assert api.post("/subscribers", json={"email": "anna@example.com", "data": data}).status_code in (200, 201)
    refused = api.put("/drafts/bomb", json={"subject": "Hi", "html": HOSTILE[0].source, "from_email": "a@b.example"})
    assert refused.status_code == 422 and HOSTILE[0].reason in refused.text, refused.text
    assert api.put("/drafts/plain", json={"html": "<p>Hi {{ data.base.firstName }}</p>"}).status_code == 201
    store_drafts(served, {f"hostile{n}": hostile.source for n, hostile in enumerate(HOSTILE)})

    def preview(n: int) -> tuple[int, float]:
        started = time.perf_counter()
        answer = api.post(f"/drafts/hostile{n}/preview", json={"email": "anna@example.com"})
        elapsed = time.perf_counter() - started
        assert answer.status_code == 422, (HOSTILE[n].name, answer.status_code, answer.text)
        message = answer.json()["error"]["message"]
        assert HOSTILE[n].explains(message), message
        return n, elapsed

    plain = api.post("/drafts/plain/preview", json={"email": "anna@example.com"})
    assert plain.status_code == 200 and plain.json()["html"] == "<p>Hi Anna</p>"
    baseline, tree_baseline = rss_mb(served.pid), tree_rss_mb([served.pid])  # the render processes started
    everything = [n for _ in range(ROUNDS) for n in range(len(HOSTILE))]
    with HealthProbe(served) as idle:  # for comparison: the same machine, no previews
        time.sleep(3)
    with HealthProbe(served) as alone:  # one hostile preview at a time
        timings = [preview(n) for n in everything]
    with HealthProbe(served) as crowded, ThreadPoolExecutor(PARALLEL) as pool:  # several at a time
        timings += pool.map(preview, everything)
    final, tree_final = rss_mb(served.pid), tree_rss_mb([served.pid])

    slowest: dict[int, float] = {}
    for n, elapsed in timings:
        slowest[n] = max(slowest.get(n, 0.0), elapsed)
    for n, hostile in enumerate(HOSTILE):
        print(f"{hostile.name:32} slowest of {2 * ROUNDS}: {slowest[n] * 1000:6.0f} ms")
    for name, probe in (("none", idle), ("one at a time", alone), (f"{PARALLEL} at a time", crowded)):
        latencies = sorted(probe.latencies)
        print(
            f"/healthz with hostile previews {name}: {len(latencies)} answers, median "
            f"{statistics.median(latencies) * 1000:.1f} ms, 95th percentile "
            f"{latencies[int(len(latencies) * 0.95)] * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms"
        )
    growth = max([*alone.rss, *crowded.rss, final]) - baseline
    print(f"server RSS {baseline:.0f} MB before, at most {baseline + growth:.0f} MB, {final:.0f} MB after")
    print(f"server and its render processes: {tree_baseline:.0f} MB before, {tree_final:.0f} MB after")
    assert len(alone.latencies) >= 10 and len(crowded.latencies) >= 10
    for probe in (alone, crowded):
        latencies = sorted(probe.latencies)
        assert latencies[int(len(latencies) * 0.95)] < MAX_HEALTHZ_SECONDS
        # On a shared machine (CI runs other tests' servers beside this one) an answer now and then is late
        # even without previews (the scheduler): allow a few, but none as late as a render (a render on the
        # event loop would take ~0.5 s).
        assert sum(latency >= MAX_HEALTHZ_SECONDS for latency in latencies) <= max(3, len(latencies) // 20)
        assert latencies[-1] < 0.4
    assert growth < MAX_RSS_GROWTH_MB
    assert tree_final - tree_baseline < MAX_TREE_GROWTH_MB
    assert max(slowest.values()) < 5  # queueing behind the other previews included


def test_a_hostile_preview_in_the_ui_shows_its_reason(served: Served) -> None:
    store_drafts(served, {"hostile": HOSTILE[0].source})
    with httpx.Client(base_url=served.base_url, follow_redirects=False, timeout=30) as browser:
        form = browser.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf
        answer = browser.post(
            "/login", data={"csrf": csrf[1], "email": "owner@shop.example", "password": PASSWORD, "next": "/drafts"}
        )
        assert answer.status_code == 303, answer.text
        started = time.perf_counter()
        page = browser.get("/drafts/hostile", params={"preview": "anna@example.com"}, headers={"HX-Request": "true"})
        assert time.perf_counter() - started < 2
    assert page.status_code == 200
    assert "template exceeds the rendering budget" in page.text and HOSTILE[0].reason in page.text
