"""An SMTP sink for the chaos tier: aiosmtpd in its own process, logging every message it accepts.

Each accepted message becomes one line `wall-time TAB Message-ID TAB EHLO name TAB recipient` in the
log file, written and flushed before the 250 reply goes out; so a line means "the server accepted
this", whatever happened to the sender afterwards. Recipients starting with `--hold-prefix` are
held in DATA until the `--release` file exists (a slow server, as seen by those messages).

    python -m tests.chaos.sink --port 2525 --log sink.log [--hold-prefix slow --release go.flag]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from aiosmtpd.controller import Controller

_MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


class Recorder:
    """An aiosmtpd handler that logs each accepted message."""

    def __init__(self, log: TextIO, hold_prefix: str | None, release: Path | None) -> None:
        self.log = log
        self.hold_prefix = hold_prefix
        self.release = release

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Log the message (held first when its recipient asks for a slow server), then accept it."""
        recipient = str(envelope.rcpt_tos[0]) if envelope.rcpt_tos else ""
        if self.hold_prefix and recipient.startswith(self.hold_prefix) and self.release is not None:
            while not self.release.exists():
                await asyncio.sleep(0.05)
        content = envelope.original_content or b""
        head = content.split(b"\r\n\r\n", 1)[0]
        found = _MESSAGE_ID.search(head)
        message_id = found.group(1).decode("ascii", "replace") if found else "-"
        self.log.write(f"{time.time():.6f}\t{message_id}\t{session.host_name}\t{recipient}\n")
        self.log.flush()
        return "250 Message accepted"


def main() -> None:
    """Serve until SIGTERM."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--hold-prefix")
    parser.add_argument("--release", type=Path)
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with args.log.open("a", encoding="utf-8") as log:
        controller = Controller(
            Recorder(log, args.hold_prefix, args.release), hostname="127.0.0.1", port=args.port, ready_timeout=30
        )
        controller.start()
        try:
            stop.wait()
        finally:
            controller.stop()


if __name__ == "__main__":
    main()
