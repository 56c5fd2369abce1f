"""Run the real `stepwise` command as a child process (for crash and CLI tests)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

STEPWISE = str(Path(sys.executable).with_name("stepwise"))


def env_for(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEPWISE_")}
    env.update(
        {
            "STEPWISE_DATABASE_URL": database_url,
            "STEPWISE_SECRET_KEY": "test-secret",
            "STEPWISE_LOG_LEVEL": "warning",
            **extra,
        }
    )
    return env


def run_cli(
    *args: str, env: dict[str, str], cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STEPWISE, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


def start_serve(port: int, env: dict[str, str], *extra: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    """Start `stepwise serve` and wait until /healthz answers."""
    process = subprocess.Popen(
        [STEPWISE, "serve", "--port", str(port), *extra],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise RuntimeError(f"stepwise serve exited with {process.returncode}: {output}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("stepwise serve did not become healthy")


def terminate(process: subprocess.Popen[Any], grace: float = 20) -> None:
    """Ask a process to stop (SIGTERM); kill it if it has not stopped within `grace` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def stop(process: subprocess.Popen[str]) -> str:
    """Terminate gracefully and return the output."""
    terminate(process)
    return process.stdout.read() if process.stdout else ""
