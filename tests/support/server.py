"""A real Stepwise server (uvicorn + worker threads) on a free loopback port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import uvicorn

from stepwise.bootstrap import Stepwise
from stepwise.serving import HttpLimits, create_app, server_config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    base_url: str
    stepwise: Stepwise


@contextmanager
def live_server(stepwise: Stepwise, *, worker: bool = True) -> Iterator[LiveServer]:
    """Serve the app in a thread; stop it (and the worker) afterwards."""
    port = free_port()
    config = server_config(
        create_app(stepwise),
        host="127.0.0.1",
        port=port,
        limits=HttpLimits.of(stepwise.settings),
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.01)
    workers = stepwise.worker() if worker else None
    if workers:
        workers.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", stepwise)
    finally:
        if workers:
            workers.stop()
        server.should_exit = True
        thread.join(10)


def api_client(server: LiveServer, key: str) -> httpx.Client:
    return httpx.Client(base_url=server.base_url + "/api/v1", headers={"Authorization": f"Bearer {key}"}, timeout=10)
