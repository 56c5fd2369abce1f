"""The README's tour runs as written, against a real `stepwise serve` on SQLite.

The shell blocks of the README's "A tour" section are run in order by one bash process, in a fresh
directory that holds only `.venv` (a link to this virtual environment, as after the README's first
command), next to a `stepwise serve` started there with no STEPWISE_* settings, exactly as the
README starts it. The venv's `bin` is not on PATH: the tour's own `. .venv/bin/activate` must put
`stepwise` there. Two substitutions, each checked to happen: port 8000 becomes a free port
(consistently, in every block), and the `KEY=sw_...` placeholder becomes the key the server printed.
Between blocks the test waits until the worker has processed every event and delivered every email
(the Prometheus gauges at /metrics), standing in for the moment a person takes between commands.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.docs.markdown import README, blocks, sections
from tests.support.process import terminate
from tests.support.server import free_port
from tests.support.waiting import eventually

VENV = Path(sys.prefix)
TOUR = sections(README)["A tour"]
WAIT = """
__tour_wait() {
  for _ in $(seq 1 300); do
    metrics=$(curl -s http://127.0.0.1:PORT/metrics || true)
    if grep -qx 'stepwise_events_backlog 0.0' <<<"$metrics" && grep -qx 'stepwise_outbox_depth 0.0' <<<"$metrics"; then
      return 0
    fi
    sleep 0.1
  done
  echo "tour: the worker did not catch up" >&2
  return 1
}
"""
# What each block must print, found by a piece of the block's own text. Only what the block's own
# commands decide: what the worker does after a block is checked after the wait (or at the end).
EXPECTED = {
    "PUT $API/lists/newsletter": ['"key":"newsletter"', '"key":"welcome"'],
    "SEQUENCE='": ['"code":"invalid"', "unknown list 'customers'"],
    "PUT $API/lists/customers": ['"key":"customers"', '"status":"active"'],
    "POST $API/subscribers": ['"email":"anna@example.com"'],
    "sequences/welcome/stats": ["Welcome, Anna!", '"entered":1'],
    "POST $API/events": ['"accepted":1', '"event":"subscriber_added"'],
    "PUT $API/forms/newsletter": ['"double_opt_in":true'],
    "-d email=olga@example.com": ["200"],
    "t/confirm": ["200", '"email":"olga@example.com","status":"active"'],
    "flows/welcome.yaml": [
        "ok: 5 definition(s) in 1 file(s)",
        "unchanged draft welcome",
        "created   draft tips",
        "updated   sequence welcome",
        "welcome (active)",
    ],
    "people.csv": ["rows 2: created 2, updated 0, unchanged 0, failed 0"],
    "sending-domains/example.com": [
        '"record_name":"stepwise1._domainkey.example.com"',
        '"address":"@competitor.example"',
        '"recorded":1',
        '"status":"sent"',
    ],
}


def _tour_blocks() -> list[str]:
    found = [block.text for block in blocks(README) if block.language == "sh" and block.text in TOUR]
    assert len(found) >= 10, "the README's tour has fewer shell blocks than expected"
    return found


def _clean_environment() -> dict[str, str]:
    """The caller's environment without STEPWISE_* settings, an active venv or this venv's bin on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEPWISE_") and k != "VIRTUAL_ENV"}
    venv_bin = (VENV / "bin").resolve()
    parts = [p for p in env.get("PATH", "").split(os.pathsep) if p and Path(p).resolve() != venv_bin]
    env["PATH"] = os.pathsep.join(parts)
    assert shutil.which("stepwise", path=env["PATH"]) is None, "stepwise must come from the tour's activation"
    assert shutil.which("curl", path=env["PATH"]), "the tour needs curl"
    return env


def test_the_readme_keeps_its_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    two = [b.text.strip() for b in blocks(README) if b.language == "sh"][:2]
    assert two == ["python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/stepwise serve", "scripts/test"]
    assert "SPEC" not in text and "../shared" not in text, "the README must not point outside the repository"


@pytest.fixture
def tour_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "tour"
    folder.mkdir()
    (folder / ".venv").symlink_to(VENV, target_is_directory=True)
    return folder


@pytest.fixture
def served(tour_dir: Path, tmp_path: Path) -> Iterator[tuple[int, str]]:
    """`stepwise serve` in the tour's directory, as the README starts it; yields (port, API key)."""
    port = free_port()
    log = tmp_path / "serve.log"
    env = {**_clean_environment(), "PYTHONUNBUFFERED": "1"}  # so the key reaches the log at once
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(VENV / "bin" / "stepwise"), "serve", "--port", str(port)],
            cwd=tour_dir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"stepwise serve exited:\n{log.read_text()}"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"stepwise serve did not become healthy:\n{log.read_text()}"
            time.sleep(0.1)
        key = re.search(r"\bsw_[A-Za-z0-9_-]+", log.read_text())
        assert key is not None, f"no API key printed:\n{log.read_text()}"
        yield port, key[0]
    finally:
        terminate(process)


def _script(port: int, key: str) -> tuple[str, list[str]]:
    """The tour as one bash script (with markers between blocks), and the blocks as run."""
    run: list[str] = []
    for text in _tour_blocks():
        run.append(text.replace("127.0.0.1:8000", f"127.0.0.1:{port}").replace("KEY=sw_...", f"KEY={key}"))
    whole = "".join(run)
    assert f"KEY={key}" in whole and f"127.0.0.1:{port}" in whole, "a substitution no longer applies"
    assert "8000" not in whole
    lines = ["set -eo pipefail", WAIT.replace("PORT", str(port))]
    for index, text in enumerate(run):
        lines += [f"printf '\\n@@tour-block {index}\\n'", text, "__tour_wait"]  # curl prints no final newline
    return "\n".join(lines) + "\n", run


def test_the_tour_runs_as_written(served: tuple[int, str], tour_dir: Path, tmp_path: Path) -> None:
    port, key = served
    script, run = _script(port, key)
    (tmp_path / "tour.sh").write_text(script, encoding="utf-8")
    result = subprocess.run(
        ["bash", str(tmp_path / "tour.sh")],
        cwd=tour_dir,
        env=_clean_environment(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"the tour failed:\n{result.stdout}\n{result.stderr}"
    outputs = re.split(r"\n@@tour-block \d+\n", result.stdout)[1:]
    assert len(outputs) == len(run)
    for piece, expected in EXPECTED.items():
        chosen = [output for text, output in zip(run, outputs, strict=True) if piece in text]
        assert len(chosen) == 1, f"expected one tour block with {piece!r}, found {len(chosen)}"
        missing = [item for item in expected if item not in chosen[0]]
        assert not missing, f"the block with {piece!r} did not print {missing}:\n{chosen[0]}\n{result.stderr}"

    # What the tour promised, read back through the API.
    with httpx.Client(
        base_url=f"http://127.0.0.1:{port}/api/v1", headers={"Authorization": f"Bearer {key}"}, timeout=10
    ) as api:

        def welcomed(email: str) -> bool:
            items = api.get("/issues", params={"email": email, "draft": "welcome"}).json()["items"]
            return any(item["status"] == "sent" for item in items)

        for email in ("anna@example.com", "olga@example.com", "boris@example.com", "vera@example.com"):
            eventually(lambda email=email: welcomed(email), timeout=10)
        assert "customers" in api.get("/subscribers/anna@example.com").json()["lists"]  # the purchase moved her on
        timeline = api.get("/subscribers/anna@example.com/timeline").json()["items"]
        assert any(entry.get("trigger") == "custom" for entry in timeline), timeline
        assert api.get("/subscribers/olga@example.com").json()["status"] == "active"
        stats = api.get("/sequences/welcome/stats").json()
        assert stats["entered"] == 4 and len(stats["steps"]) == 3, stats
