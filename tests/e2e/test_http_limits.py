"""HTTP limits of `stepwise serve`: slow, partial and idle clients cannot starve the server (SPEC §12).

The server runs as a child process with an open-file limit of 1,024; a thousand connections that
send only part of a request header must not stop normal requests from answering within a second.
"""

from __future__ import annotations

import resource
import socket
import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.process import STEPWISE, env_for, terminate
from tests.support.server import free_port

FILE_LIMIT = 1024
PARTIAL = b"GET /healthz HTTP/1.1\r\nHost: stepwise.test\r\nX-Slow: "


def _serve(database_url: str, tmp_path: Path, **settings: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = env_for(database_url, **settings)
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        ["sh", "-c", f'ulimit -n {FILE_LIMIT} && exec "$0" serve --port {port}', STEPWISE],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, (tmp_path / "serve.log").read_text()
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    terminate(process)
    raise AssertionError("stepwise serve did not become healthy")


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    process, base = _serve(database_url, tmp_path, STEPWISE_HEADER_TIMEOUT="3", STEPWISE_BODY_TIMEOUT="2")
    try:
        yield process, base
    finally:
        terminate(process)


def _open_partial(base: str, count: int) -> list[socket.socket]:
    host, port = base.removeprefix("http://").split(":")
    sockets = []
    for _ in range(count):
        sock = socket.create_connection((host, int(port)), timeout=5)
        sock.sendall(PARTIAL)
        sockets.append(sock)
    return sockets


def _timed_healthz(base: str) -> float:
    started = time.monotonic()
    response = httpx.get(base + "/healthz", timeout=5, headers={"Connection": "close"})
    assert response.status_code == 200, response.text
    return time.monotonic() - started


def test_thousand_partial_connections_under_a_low_file_limit_do_not_stop_normal_requests(
    served: tuple[subprocess.Popen[bytes], str],
) -> None:
    process, base = served
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] > 2 * FILE_LIMIT, "the test client needs its own files"
    sockets = _open_partial(base, 1000)
    try:
        latencies = [_timed_healthz(base) for _ in range(30)]
        more = _open_partial(base, 200)  # keep pushing while normal requests go on
        latencies += [_timed_healthz(base) for _ in range(30)]
        sockets += more
    finally:
        for sock in sockets:
            sock.close()
    print(
        f"\n1,000+200 partial connections, file limit {FILE_LIMIT}: /healthz median "
        f"{statistics.median(latencies) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms over {len(latencies)}"
    )
    assert max(latencies) < 1.0
    assert process.poll() is None


def test_a_partial_header_gets_408_and_is_closed_after_the_header_timeout(
    served: tuple[subprocess.Popen[bytes], str],
) -> None:
    _, base = served
    [sock] = _open_partial(base, 1)
    sock.settimeout(10)
    started = time.monotonic()
    answer = sock.recv(4096)
    waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b'"code": "request_timeout"' in answer
    assert sock.recv(4096) == b""  # closed
    assert 2.5 < waited < 6
    sock.close()


def test_a_body_that_stops_arriving_gets_408_after_the_body_timeout(
    served: tuple[subprocess.Popen[bytes], str],
) -> None:
    _, base = served
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(
        b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sw_x\r\n"
        b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"events": ['
    )
    started = time.monotonic()
    answer = sock.recv(4096)
    waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert 1.5 < waited < 5
    sock.close()


def test_an_idle_keep_alive_connection_is_closed_and_a_finished_request_is_not_cut(
    served: tuple[subprocess.Popen[bytes], str],
) -> None:
    _, base = served
    with httpx.Client(base_url=base, timeout=5) as client:
        assert client.get("/healthz").status_code == 200
        time.sleep(0.2)
        assert client.get("/healthz").status_code == 200  # same connection, well within limits
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=15)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    first = b""
    while not first.endswith(b"}"):
        first += sock.recv(4096)
    assert first.startswith(b"HTTP/1.1 200 ")
    started = time.monotonic()
    assert sock.recv(4096) == b""  # the server closes the idle connection (keep-alive timeout 5 s)
    assert time.monotonic() - started < 8
    sock.close()


def test_requests_beyond_the_in_progress_cap_get_a_clear_503() -> None:
    import asyncio

    from starlette.types import Receive, Scope, Send

    from stepwise.serving import RequestLimit

    release = asyncio.Event()

    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        await release.wait()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def scenario() -> tuple[int, httpx.Response]:
        transport = httpx.ASGITransport(app=RequestLimit(slow, limit=2))
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
            held = [asyncio.create_task(client.get("/")) for _ in range(2)]
            await asyncio.sleep(0.05)
            refused = await client.get("/")
            release.set()
            statuses = [(await task).status_code for task in held]
            return statuses.count(204), refused

    completed, refused = asyncio.run(scenario())
    assert completed == 2
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"]["code"] == "overloaded"
