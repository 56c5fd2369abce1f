"""Fixtures of the chaos tier: a fresh database on the shared server, and a private PostgreSQL server to restart.

Restarting the shared server on 127.0.0.1:5432 would break every other test and every other
developer using it at that moment, so the restart test runs its own throwaway server (initdb into
a temporary directory, on a free port) built from the same PostgreSQL binaries.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.databases import temporary_postgres_database
from tests.support.server import free_port


@pytest.fixture
def chaos_database(postgres_url: str) -> Iterator[str]:
    """Yield a fresh PostgreSQL database on the shared server; drop it afterwards (with any stray connections)."""
    with temporary_postgres_database() as url:
        yield url


def _bindir() -> Path | None:
    """Find initdb and pg_ctl: STEPWISE_TEST_PG_BINDIR, else the newest Debian install, else PATH."""
    configured = os.environ.get("STEPWISE_TEST_PG_BINDIR")
    candidates = [Path(configured)] if configured else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True)
    found = shutil.which("pg_ctl")
    if found:
        candidates.append(Path(found).parent)
    return next((c for c in candidates if (c / "initdb").exists() and (c / "pg_ctl").exists()), None)


@dataclass
class PrivatePostgres:
    """A PostgreSQL server of our own: stop it, start it, and nobody else notices."""

    bindir: Path
    datadir: Path
    port: int
    run_as: list[str]

    @property
    def url(self) -> str:
        """Return the URL of the `postgres` database on this server."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str, timeout: float = 120) -> None:
        command = [*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.datadir), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            log = self.datadir.parent / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"pg_ctl {' '.join(args)} failed: {done.stdout}{done.stderr}\n{tail}")

    def start(self) -> None:
        """Start the server and return once it accepts connections."""
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.datadir.parent}"
        self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.datadir.parent / "server.log"), "-o", options)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; `fast` ends every session at once (what an operator's restart does)."""
        self._pg_ctl("stop", "-w", "-t", "60", "-m", mode)

    def running(self) -> bool:
        """Tell whether the server process is up."""
        command = [*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "status"]
        return subprocess.run(command, capture_output=True, timeout=30, check=False).returncode == 0


def _private_postgres_or_skip() -> tuple[Path, list[str]]:
    bindir = _bindir()
    problem = None
    run_as: list[str] = []
    if bindir is None:
        problem = "PostgreSQL server binaries (initdb, pg_ctl) not found; set STEPWISE_TEST_PG_BINDIR"
    elif os.geteuid() == 0:  # PostgreSQL refuses to run as root: run it as the postgres user
        runuser = shutil.which("runuser")
        if runuser is None or subprocess.run(["id", "postgres"], capture_output=True, check=False).returncode != 0:
            problem = "running as root without a `postgres` user (and runuser) to start a private server"
        run_as = [runuser or "runuser", "-u", "postgres", "--"]
    if problem is not None or bindir is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{problem} (CI=true: the chaos tier must run)", pytrace=False)
        pytest.skip(problem or "no PostgreSQL binaries")
    return bindir, run_as


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """Yield a throwaway PostgreSQL server (trust auth) on a free port; always stop and remove it afterwards."""
    bindir, run_as = _private_postgres_or_skip()
    base = Path(tempfile.mkdtemp(prefix="stepwise-chaos-pg-"))
    datadir = base / "data"
    if run_as:
        shutil.chown(base, user="postgres")
    server = PrivatePostgres(bindir, datadir, free_port(), run_as)
    try:
        initdb = [*run_as, str(bindir / "initdb"), "-D", str(datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
        done = subprocess.run([*initdb, "--no-sync"], capture_output=True, text=True, timeout=180, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        with (datadir / "postgresql.conf").open("a") as conf:
            conf.write("fsync = off\nmax_connections = 200\n")  # a scratch server: speed over durability
        server.start()
        yield server
    finally:
        if datadir.exists() and server.running():
            server.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)
