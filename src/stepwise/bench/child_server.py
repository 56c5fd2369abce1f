"""A local server in a child process for the bench (an SMTP sink, a webhook receiver)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def child_server(command: list[str], port: int, what: str) -> Iterator[int]:
    """Start `command`, wait until it accepts connections on `port` (10 s), stop it afterwards; yield its pid."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"the {what} did not start") from None
                time.sleep(0.05)
        yield process.pid
    finally:
        process.terminate()
        process.wait(10)
