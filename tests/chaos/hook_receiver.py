"""A webhook receiver for the chaos tier, in its own process: logs every message it accepts.

Each request becomes one line `wall-time TAB webhook-id` in the log file, written and flushed before
the 200 reply goes out; so a line means "the receiver has it", whatever happened to the sender.

    python -m tests.chaos.hook_receiver --port 8080 --log hooks.log
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import TextIO


def serve(port: int, log: TextIO) -> None:
    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                fields = {}
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    fields[name.strip().lower()] = value.strip()
                await reader.readexactly(int(fields.get(b"content-length", b"0")))
                log.write(f"{time.time():.6f}\t{fields.get(b'webhook-id', b'').decode()}\n")
                log.flush()
                await asyncio.sleep(0.001)  # a receiver that does a little work per message
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(session, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    with open(args.log, "a", encoding="utf-8") as out:
        serve(args.port, out)
