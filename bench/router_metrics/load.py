"""A load generator at a fixed rate over kept-alive connections, noting when each response ended.

``python -m bench.router_metrics.load URL RATE SECONDS CONNECTIONS OUT``: sends
``RATE`` GET requests per second in all for ``SECONDS``, each connection at its
share of the rate (late responses make it catch up, back to back). The
completion time of every response (``time.monotonic()``, the same clock in every
process) goes to ``OUT`` as an array of doubles; a JSON summary to stdout. Raw
asyncio streams rather than an HTTP library: a few tens of microseconds per
request, so one Python process sustains thousands of requests per second.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from array import array
from urllib.parse import urlsplit


async def _response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def _connection(
    host: str,
    port: int,
    interval: float,
    first: float,
    end: float,
    done: array[float],
    stats: dict[str, int],
) -> None:
    request = f"GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: bench\r\n\r\n".encode()
    reader, writer = await asyncio.open_connection(host, port)
    next_at = first
    try:
        while next_at < end:
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            next_at += interval
            stats["sent"] += 1
            try:
                writer.write(request)
                status = await _response(reader)
            except (OSError, asyncio.IncompleteReadError):
                stats["failed"] += 1
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            done.append(time.monotonic())
            stats["ok" if status < 500 else "errors"] += 1
    finally:
        writer.close()


async def run(
    url: str, rate: float, seconds: float, connections: int
) -> tuple[array[float], dict[str, float]]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    done: array[float] = array("d")
    stats = {"sent": 0, "ok": 0, "errors": 0, "failed": 0}
    interval = connections / rate
    start = time.monotonic() + 0.2
    end = start + seconds
    await asyncio.gather(
        *(
            _connection(host, port, interval, start + i * interval / connections, end, done, stats)
            for i in range(connections)
        )
    )
    summary: dict[str, float] = {**stats, "seconds": round(time.monotonic() - start, 3)}
    return done, summary


def main() -> None:
    url, rate, seconds, connections, out = sys.argv[1:6]
    done, stats = asyncio.run(run(url, float(rate), float(seconds), int(connections)))
    with open(out, "wb") as file:
        done.tofile(file)
    print(json.dumps(stats), flush=True)


if __name__ == "__main__":
    main()
