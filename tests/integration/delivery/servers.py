"""Real servers for delivery tests: an aiosmtpd SMTP server, an HTTP target and a loopback canary."""

from __future__ import annotations

import email
import email.policy
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    sender: str
    recipients: list[str]
    raw: bytes
    session: int  # which connection carried it

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    def part(self, subtype: str) -> str:
        body = self.message.get_body(preferencelist=(subtype,))
        assert body is not None, f"no text/{subtype} part"
        content = body.get_content()
        assert isinstance(content, str)
        return content


@dataclass
class SmtpRecorder:
    """An aiosmtpd handler that records messages and can refuse recipients or messages."""

    received: list[Received] = field(default_factory=list)
    rcpts: list[str] = field(default_factory=list)
    refuse_rcpt: dict[str, str] = field(default_factory=dict)  # address -> reply, e.g. "550 no such user"
    data_reply: Callable[[Envelope], str | None] | None = None  # a reply instead of 250, or None
    on_data: Callable[[], None] | None = None
    data_delay: float = 0.0
    slow: dict[str, float] = field(default_factory=dict)  # recipient -> seconds before answering its data
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        with self.lock:
            self.rcpts.append(address)
        if address in self.refuse_rcpt:
            return self.refuse_rcpt[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        delay = max([self.data_delay] + [self.slow.get(str(r), 0.0) for r in envelope.rcpt_tos])
        if delay:
            import asyncio

            await asyncio.sleep(delay)
        if self.data_reply is not None:
            reply = self.data_reply(envelope)
            if reply is not None:
                return reply
        raw = envelope.original_content or b""
        with self.lock:
            self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), raw, id(session)))
        if self.on_data is not None:
            self.on_data()
        return "250 Message accepted"

    def by_recipient(self, address: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if address in r.recipients]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} messages, got {len(self.received)}")


@dataclass
class SmtpServer:
    recorder: SmtpRecorder
    host: str
    port: int

    def url(self, scheme: str = "smtp", userinfo: str = "", query: str = "") -> str:
        at = f"{userinfo}@" if userinfo else ""
        return f"{scheme}://{at}{self.host}:{self.port}" + (f"?{query}" if query else "")


@contextmanager
def smtp_server(recorder: SmtpRecorder | None = None, **kwargs: Any) -> Iterator[SmtpServer]:
    """Run aiosmtpd on a loopback port; kwargs go to aiosmtpd's SMTP (auth, TLS...)."""
    recorder = recorder or SmtpRecorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield SmtpServer(recorder, "127.0.0.1", port)
    finally:
        controller.stop()


def password_authenticator(user: str, password: str) -> Callable[..., AuthResult]:
    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and (auth_data.password == password.encode())
        )
        return AuthResult(success=ok, handled=False)

    return authenticate


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """Make a certificate for 127.0.0.1 and localhost with the openssl command; return (cert, key)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


# -- HTTP ---------------------------------------------------------------------------------------


@dataclass
class HttpRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class HttpTarget:
    """A threaded HTTP server whose paths choose the answer.

    /status/NNN answers NNN; /hang waits (until released) before answering; /drip sends its answer
    one byte every 0.1 s (all at once when released); /redirect?to=URL answers 302 to URL; anything
    else answers 200 "ok".
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.requests: list[HttpRequest] = []
        self.release = threading.Event()
        self.lock = threading.Lock()
        target = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with target.lock:
                    target.requests.append(HttpRequest(self.command, self.path, dict(self.headers.items()), body))
                path = urlsplit(self.path).path
                if path.startswith("/status/"):
                    self._answer(int(path.rsplit("/", 1)[1]), b"status")
                elif path == "/hang":
                    target.release.wait(30)
                    self._answer(200, b"late")
                elif path == "/drip":
                    head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                    for byte in head:
                        if not target.release.is_set():
                            time.sleep(0.1)
                        try:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                        except OSError:
                            return
                elif path == "/redirect":
                    location = parse_qs(urlsplit(self.path).query)["to"][0]
                    self.send_response(302)
                    self.send_header("Location", location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    self._answer(200, b"ok")

            def _answer(self, status: int, body: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the caller gave up (a deadline test); nothing to tell it

            do_GET = do_POST = _handle

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

        self.server = Server((host, 0), Handler)
        self.host = host
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> HttpTarget:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def paths(self) -> list[str]:
        with self.lock:
            return [r.path for r in self.requests]


class Canary:
    """Counts every TCP connection to one port on any local address (IPv4 and IPv6)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        self.sock.bind(("::", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self.hits: list[Any] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.hits.append(peer)
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(2)
        self.sock.close()
