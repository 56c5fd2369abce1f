"""An SMTP sink for workload W that records, per message, its subject tag, its recipients and when it was accepted.

Run as a child process: `python -m stepwise.bench.recording_sink PORT FILE [--aiosmtpd]`. Each accepted
message appends a line `time<TAB>tag<TAB>recipient` per recipient to FILE (flushed every 0.1 s), so
the driver follows the count by reading the file and computes the figures from it afterwards. The
tag is the bracketed word that opens the subject (`[A] Welcome …` → `A`).

Two servers: aiosmtpd (the sink the published comparison table used: a Python server that costs
about as much CPU per message as the sender) when installed, else a minimal asyncio one.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from typing import IO, Any

TAG = re.compile(rb"^Subject:[ \t]*\[(\w+)\]", re.MULTILINE | re.IGNORECASE)


def tag_of(content: bytes) -> str:
    """The subject's bracketed tag, or `?`."""
    found = TAG.search(content.split(b"\r\n\r\n", 1)[0])
    return found.group(1).decode("ascii") if found else "?"


class Recorder:
    """Appends one line per recipient of each accepted message."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def record(self, content: bytes, recipients: list[str]) -> None:
        now, tag = time.time(), tag_of(content)
        self.out.write("".join(f"{now:.6f}\t{tag}\t{rcpt.lower()}\n" for rcpt in recipients))

    async def flush_forever(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            self.out.flush()


async def _minimal(port: int, recorder: Recorder) -> None:
    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 sink ESMTP\r\n")
        recipients: list[str] = []
        data: list[bytes] | None = None
        while line := await reader.readline():
            if data is not None:
                if line == b".\r\n":
                    recorder.record(b"".join(data), recipients)
                    data, recipients = None, []
                    writer.write(b"250 OK\r\n")
                else:
                    data.append(line)
                continue
            verb = line[:4].upper()
            if verb == b"EHLO":
                writer.write(b"250-sink\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
            elif verb == b"RCPT":
                recipients.append(line.split(b"<", 1)[-1].split(b">", 1)[0].decode("utf-8", "replace"))
                writer.write(b"250 OK\r\n")
            elif verb == b"DATA":
                data = []
                writer.write(b"354 go on\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                break
            else:
                writer.write(b"250 OK\r\n")
        writer.close()

    server = await asyncio.start_server(session, "127.0.0.1", port)
    async with server:
        await asyncio.gather(server.serve_forever(), recorder.flush_forever())


async def _aiosmtpd(port: int, recorder: Recorder) -> None:
    from aiosmtpd.smtp import SMTP

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            recorder.record(envelope.content, list(envelope.rcpt_tos))
            return "250 OK"

    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(Handler(), hostname="sink"), "127.0.0.1", port)
    async with server:
        await asyncio.gather(server.serve_forever(), recorder.flush_forever())


def main(argv: list[str]) -> None:
    port, path = int(argv[0]), argv[1]
    with open(path, "a", encoding="utf-8") as out:
        recorder = Recorder(out)
        asyncio.run(_aiosmtpd(port, recorder) if "--aiosmtpd" in argv else _minimal(port, recorder))


if __name__ == "__main__":
    main(sys.argv[1:])
